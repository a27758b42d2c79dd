#!/usr/bin/env bash
# TCP throughput and latency through the SOCKS5 proxy of "wgplex proxy"
# and of wireproxy, side by side, on the loopback address, without root.
#
# Both clients read the same configuration file (wireproxy's format) with
# their own key and tunnel address, and talk to the same peer: a "wgplex
# proxy" whose TCPServerTunnel forwards to bench/proxyload's server. Only
# the SOCKS5 end differs. The two are measured alternately (A B A B ...),
# and the table gives min / median / max of the rounds.
#
#   bench/proxy.sh                    3 rounds, 5 s of download per round
#   bench/proxy.sh -r 5 -t 10         5 rounds of 10 s
#
# Options:
#   -r, --rounds N     rounds of A B (default 3)
#   -t, --time S       seconds of download per measurement (default 5)
#   -p, --pings N      one-byte round trips per measurement (default 2000)
#   --wireproxy BIN    the wireproxy binary (default $WIREPROXY, else
#                      wireproxy from PATH). The module proxy does not
#                      serve wireproxy: build it from its repository,
#                      outside this one.
#   -o, --out FILE     results file (default bench/results/<date>-proxy.md)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS=3
SECS=5
PINGS=2000
WIREPROXY=${WIREPROXY:-$(command -v wireproxy || true)}
OUT=
while [[ $# -gt 0 ]]; do
	case $1 in
	-r | --rounds) ROUNDS=$2; shift ;;
	-t | --time) SECS=$2; shift ;;
	-p | --pings) PINGS=$2; shift ;;
	--wireproxy) WIREPROXY=$2; shift ;;
	-o | --out) OUT=$2; shift ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [[ -z $WIREPROXY || ! -x $WIREPROXY ]]; then
	echo "no wireproxy binary: pass --wireproxy BIN or set WIREPROXY" >&2
	exit 1
fi

TMP=$(mktemp -d /tmp/wgplex-proxy-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

go build -o "$TMP/wgplex" ./cmd/wgplex
go build -o "$TMP/proxyload" ./bench/proxyload
W=$TMP/wgplex

# A free TCP or UDP port on 127.0.0.1, from the kernel.
freeport() { python3 -c "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=='udp' else socket.SOCK_STREAM); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])" "$1"; }

SINK=$(freeport tcp)
PEER_PORT=$(freeport udp)
WG_SOCKS=$(freeport tcp)
WP_SOCKS=$(freeport tcp)

"$TMP/proxyload" serve "127.0.0.1:$SINK" &
PIDS+=($!)

kpeer=$($W genkey); kwg=$($W genkey); kwp=$($W genkey)
pub() { echo "$1" | $W pubkey; }

cat >"$TMP/peer.conf" <<CONF
[Interface]
Address = 10.88.0.2/24
PrivateKey = $kpeer
ListenPort = $PEER_PORT

[Peer]
PublicKey = $(pub "$kwg")
AllowedIPs = 10.88.0.1/32

[Peer]
PublicKey = $(pub "$kwp")
AllowedIPs = 10.88.0.3/32

[TCPServerTunnel]
ListenPort = 5201
Target = 127.0.0.1:$SINK
CONF

client_conf() { # key address socks-port
	cat <<CONF
[Interface]
Address = $2/32
PrivateKey = $1
MTU = 1420

[Peer]
PublicKey = $(pub "$kpeer")
AllowedIPs = 10.88.0.2/32
Endpoint = 127.0.0.1:$PEER_PORT

[Socks5]
BindAddress = 127.0.0.1:$3
CONF
}
client_conf "$kwg" 10.88.0.1 "$WG_SOCKS" >"$TMP/wgplex-client.conf"
client_conf "$kwp" 10.88.0.3 "$WP_SOCKS" >"$TMP/wireproxy-client.conf"

export WGPLEX_RUNTIME_DIR=$TMP/run
LOG_LEVEL=silent "$W" proxy "$TMP/peer.conf" 2>"$TMP/peer.log" &
PIDS+=($!)
LOG_LEVEL=silent "$W" proxy "$TMP/wgplex-client.conf" 2>"$TMP/wgplex.log" &
PIDS+=($!)
"$WIREPROXY" -s -c "$TMP/wireproxy-client.conf" >"$TMP/wireproxy.log" 2>&1 &
PIDS+=($!)

# Wait until each SOCKS5 end reaches the sink (this also completes the
# handshakes).
for port in "$WG_SOCKS" "$WP_SOCKS"; do
	for i in $(seq 1 100); do
		if "$TMP/proxyload" run -socks "127.0.0.1:$port" -target 10.88.0.2:5201 -secs 0.1 -pings 1 -connects 1 >/dev/null 2>&1; then
			break
		fi
		[[ $i == 100 ]] && { echo "SOCKS5 on port $port never reached the sink" >&2; cat "$TMP"/*.log >&2; exit 1; }
		sleep 0.2
	done
done

# What else uses the CPU: on a shared machine this is part of the result.
BUSY=$(ps -eo pcpu=,comm= --sort=-pcpu | head -8 | awk '{printf "%s %s%%, ", $2, $1}' | sed 's/, $//')

declare -A S
measure() { # name port
	local out
	out=$("$TMP/proxyload" run -socks "127.0.0.1:$2" -target 10.88.0.2:5201 -secs "$SECS" -pings "$PINGS")
	echo "  $1: $out" >&2
	for kv in $out; do S[$1.${kv%%=*}]+="${kv#*=} "; done
}
for r in $(seq 1 "$ROUNDS"); do
	echo "round $r" >&2
	measure wgplex "$WG_SOCKS"
	measure wireproxy "$WP_SOCKS"
done

# min / median / max of a list of numbers.
stats() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s / %s / %s", a[1], m, a[NR]}'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

[[ -n $OUT ]] || OUT=bench/results/$(date -u +%Y-%m-%d-%H%M%S)-proxy.md
{
	echo "# wgplex proxy vs wireproxy: TCP through SOCKS5, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), Linux $(uname -r)."
	echo "wgplex $(git rev-parse --short HEAD 2>/dev/null || echo '?'); wireproxy: $("$WIREPROXY" -v 2>&1 | head -1)."
	echo "$ROUNDS round(s) A B alternating; per round: one TCP stream downloading for $SECS s (after 1 s of warm-up),"
	echo "$PINGS one-byte round trips on one connection, 50 connections opened (SOCKS5 + TCP handshake to the first byte)."
	echo "Both SOCKS5 ends use the same peer, a wgplex proxy forwarding to bench/proxyload on 127.0.0.1; tunnel MTU 1420."
	echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). Busiest processes at the start (CPU share since they started): $BUSY."
	echo
	echo "| metric: min / median / max | wgplex | wireproxy | wgplex / wireproxy (medians) |"
	echo "|---|---|---|---|"
	for m in mbit:"download, Mbit/s" rtt_p50_us:"round trip p50, us" rtt_p99_us:"round trip p99, us" connect_p50_us:"connection set-up p50, us"; do
		k=${m%%:*}
		a=${S[wgplex.$k]}; b=${S[wireproxy.$k]}
		ratio=$(awk -v x="$(echo "$a" | median)" -v y="$(echo "$b" | median)" 'BEGIN {printf "%.2f", x/y}')
		echo "| ${m#*:} | $(echo "$a" | stats) | $(echo "$b" | stats) | $ratio |"
	done
	echo
	echo "Samples in run order:"
	echo
	for k in mbit rtt_p50_us rtt_p99_us connect_p50_us; do
		echo "- wgplex $k: ${S[wgplex.$k]}"
		echo "- wireproxy $k: ${S[wireproxy.$k]}"
	done
} | tee "$OUT"
echo "written to $OUT" >&2
