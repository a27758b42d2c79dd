#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Many active peers at once: N clients, each in its own network namespace
# with its own daemon and a veth to the server's namespace, all sending TCP
# to one server daemon at the same time. wgplex and wireguard-go alternate
# (A B A B ...), the same implementation on both ends. Reports, as
# min/median/max over the rounds: aggregate throughput, the server daemon's
# CPU per byte (and all daemons'), and the fair share between peers (Jain's
# index over the per-peer throughputs, and the slowest / fastest peer).
#
#   sudo bench/peers.sh                  8 and 64 peers, 3 rounds, 10 s each
#   sudo bench/peers.sh -n "8" -r 1 -t 5 quick
#
# Options:
#   -n, --peers "N..."   peer counts (default "8 64")
#   -r, --rounds N       rounds of A B (default 3)
#   -t, --time S         seconds of traffic (default 10)
#   --clients IMPL       what the clients run: "same" as the server (default),
#                        or always "wgplex" or "wireguard-go", so that only the
#                        server changes between the columns
#   --only-wgplex        skip wireguard-go
#   --wgplex BIN         use this wgplex binary instead of building ./cmd/wgplex
#   --wireguard-go BIN   use this wireguard-go binary instead of go install
#   -o, --out FILE       results file (default bench/results/<date>-peers.md)
#
# Environment variables (WGPLEX_AEAD, WGPLEX_CRYPTO, ...) reach the daemons.
# Needs root, Go, iperf3, jq, wg and ping.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
WIREGUARD_GO_VERSION=v0.0.0-20260522210424-ecfc5a8d5446

COUNTS="8 64"
ROUNDS=3
SECS=10
ONLY_WGPLEX=0
CLIENTS=same
WGPLEX_BIN=
WGGO_BIN=
OUT=
while [[ $# -gt 0 ]]; do
	case $1 in
	-n | --peers) COUNTS=$2; shift ;;
	-r | --rounds) ROUNDS=$2; shift ;;
	-t | --time) SECS=$2; shift ;;
	--only-wgplex) ONLY_WGPLEX=1 ;;
	--clients) CLIENTS=$2; shift ;;
	--wgplex) WGPLEX_BIN=$2; shift ;;
	--wireguard-go) WGGO_BIN=$2; shift ;;
	-o | --out) OUT=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
# The fair share is measured from 1 s after the start to 1 s before the end.
((SECS >= 3)) || { echo "-t must be at least 3 s" >&2; exit 2; }
if [[ $(id -u) -ne 0 ]]; then
	echo "bench/peers.sh needs root (network namespaces, TUN devices)" >&2
	exit 1
fi
for c in iperf3 jq wg ping; do
	command -v "$c" >/dev/null || { echo "missing $c" >&2; exit 1; }
done
case $CLIENTS in same | wgplex | wireguard-go) ;; *) echo "--clients: want same, wgplex or wireguard-go" >&2; exit 2 ;; esac
for n in $COUNTS; do
	((n >= 1 && n <= 250)) || { echo "peer count $n out of range 1..250" >&2; exit 2; }
done

umask 077
WORK=$(mktemp -d /tmp/wgpx-peers.XXXXXX)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# Names carry the pid so that runs side by side do not collide; interface
# names share one /var/run/wireguard, namespaces one list.
NS_S=wgpxp-s-$$
IF_S=wgps$$
ns_c() { echo "wgpxp-$$-$1"; }
if_c() { echo "wgpc$$x$1"; }
MAXN=0
for n in $COUNTS; do ((n > MAXN)) && MAXN=$n; done

stop_daemons() {
	local ns p
	for ns in "$NS_S" $(for i in $(seq 1 "$MAXN"); do ns_c "$i"; done); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	done
	sleep 0.3
	for ns in "$NS_S" $(for i in $(seq 1 "$MAXN"); do ns_c "$i"; done); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
	done
	rm -f "/var/run/wireguard/$IF_S.sock" /var/run/wireguard/wgpc$$x*.sock
}
cleanup() {
	set +e
	stop_daemons >/dev/null 2>&1
	ip netns del "$NS_S" >/dev/null 2>&1
	for i in $(seq 1 "$MAXN"); do ip netns del "$(ns_c "$i")" >/dev/null 2>&1; done
	rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z $WGPLEX_BIN ]]; then
	echo "==> building wgplex"
	go build -o "$WORK/wgplex" ./cmd/wgplex
	WGPLEX_BIN=$WORK/wgplex
fi
IMPLS=(wgplex)
if [[ $ONLY_WGPLEX -eq 0 ]]; then
	if [[ -z $WGGO_BIN ]]; then
		echo "==> go install golang.zx2c4.com/wireguard@$WIREGUARD_GO_VERSION"
		GOBIN=$WORK/bin go install "golang.zx2c4.com/wireguard@$WIREGUARD_GO_VERSION"
		WGGO_BIN=$WORK/bin/wireguard
	fi
	IMPLS+=(wireguard-go)
elif [[ $CLIENTS == wireguard-go ]]; then
	echo "--clients wireguard-go needs wireguard-go: drop --only-wgplex" >&2
	exit 2
fi
impl_bin() { if [[ $1 == wgplex ]]; then echo "$WGPLEX_BIN"; else echo "$WGGO_BIN"; fi; }

# --- topology: built once for the largest count, reused by every round -------
# Client i: underlay 10.240.i.2/24 <-> server 10.240.i.1/24 on its own veth,
# tunnel 10.241.1.i; the server's tunnel address is 10.241.0.1.
echo "==> $MAXN client namespaces and one server namespace"
ip netns add "$NS_S"
ip -n "$NS_S" link set lo up
for i in $(seq 1 "$MAXN"); do
	ns=$(ns_c "$i")
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add wgpxpv netns "$ns" type veth peer name "wgpxpv$i" netns "$NS_S"
	ip -n "$ns" addr add "10.240.$i.2/24" dev wgpxpv
	ip -n "$NS_S" addr add "10.240.$i.1/24" dev "wgpxpv$i"
	ip -n "$ns" link set wgpxpv up
	ip -n "$NS_S" link set "wgpxpv$i" up
done
wg genkey >"$WORK/s.key"
wg pubkey <"$WORK/s.key" >"$WORK/s.pub"
for i in $(seq 1 "$MAXN"); do
	wg genkey >"$WORK/c$i.key"
	wg pubkey <"$WORK/c$i.key" >"$WORK/c$i.pub"
done

# start_daemons SERVER_BIN CLIENT_BIN N: the server with N peers, and
# clients 1..N.
start_daemons() {
	local bin=$1 cbin=$2 n=$3 i ns
	ip netns exec "$NS_S" env LOG_LEVEL=error "$bin" "$IF_S"
	{
		echo "[Interface]"
		echo "PrivateKey = $(cat "$WORK/s.key")"
		echo "ListenPort = 51820"
		for i in $(seq 1 "$n"); do
			echo "[Peer]"
			echo "PublicKey = $(cat "$WORK/c$i.pub")"
			echo "AllowedIPs = 10.241.1.$i/32"
		done
	} >"$WORK/server.conf"
	ip netns exec "$NS_S" wg setconf "$IF_S" "$WORK/server.conf"
	ip -n "$NS_S" addr add 10.241.0.1/16 dev "$IF_S"
	ip -n "$NS_S" link set "$IF_S" mtu 1420 up
	for i in $(seq 1 "$n"); do
		ns=$(ns_c "$i")
		ip netns exec "$ns" env LOG_LEVEL=error "$cbin" "$(if_c "$i")"
		ip netns exec "$ns" wg set "$(if_c "$i")" private-key "$WORK/c$i.key" listen-port 51820 \
			peer "$(cat "$WORK/s.pub")" allowed-ips 10.241.0.1/32 endpoint "10.240.$i.1:51820"
		ip -n "$ns" addr add "10.241.1.$i/16" dev "$(if_c "$i")"
		ip -n "$ns" link set "$(if_c "$i")" mtu 1420 up
	done
	# Handshakes a few at a time: all at once would put the server under
	# load and into cookie replies, which is a different test.
	for i in $(seq 1 "$n"); do
		ip netns exec "$(ns_c "$i")" ping -n -q -c 1 -w 15 10.241.0.1 >/dev/null 2>&1 &
		((i % 8 == 0)) && wait
	done
	wait
	local bad=0
	for i in $(seq 1 "$n"); do
		ip netns exec "$(ns_c "$i")" ping -n -q -c 1 -w 15 10.241.0.1 >/dev/null 2>&1 || bad=$((bad + 1))
	done
	((bad == 0)) || echo "    warning: $bad of $n clients cannot reach the server" >&2
}

declare -A SAMPLES
add() { SAMPLES[$1:$2]+="$3 "; echo "    $1 $2 = $3"; }

peers_round() {
	local impl=$1 n=$2 bin cbin i
	bin=$(impl_bin "$impl")
	cbin=$bin
	[[ $CLIENTS != same ]] && cbin=$(impl_bin "$CLIENTS")
	echo "==> round $round: $impl, $n peers"
	start_daemons "$bin" "$cbin" "$n"
	local server all=()
	server=$(daemon_pids "$NS_S" "$bin")
	for i in $(seq 1 "$n"); do mapfile -t -O "${#all[@]}" all < <(daemon_pids "$(ns_c "$i")" "$cbin"); done
	all+=("$server")
	for i in $(seq 1 "$n"); do
		ip netns exec "$NS_S" iperf3 -s -1 -p $((5200 + i)) >/dev/null 2>&1 &
	done
	sleep 1
	local s0 a0 s1 a1
	s0=$(cpu_ticks "$server")
	a0=$(cpu_ticks "${all[@]}")
	# The clients start together: started one after another, the last of
	# 64 began up to seconds after the first on a busy machine, and ran
	# their last seconds with the machine to themselves, which a fast
	# server turns into a few peers with ten times the rate of the rest.
	# Each waits for a start time far enough ahead for all to be waiting.
	local start
	start=$(awk -v now="$(date +%s.%N)" -v n="$n" 'BEGIN { printf "%.3f\n", now + 2 + n * 0.03 }')
	for i in $(seq 1 "$n"); do
		# shellcheck disable=SC2016 # expanded by the inner bash
		ip netns exec "$(ns_c "$i")" bash -c 'sleep_until "$1"; shift; exec "$@"' _ \
			"$start" iperf3 -c 10.241.0.1 -p $((5200 + i)) -t "$SECS" -J >"$WORK/c$i.json" 2>/dev/null &
	done
	# The fair share is taken from the server's own per-peer counters
	# (wg show transfer) over a window in which every client is sending:
	# from 1 s after the start to 1 s before the end. An iperf3 client's
	# average covers its own run, and one whose test began late (even
	# after a common start, on a busy machine) ends alone, at many times
	# the rate it had while the others ran.
	local window
	window=$(awk -v s="$SECS" 'BEGIN { print s - 2 }')
	sleep_until "$(awk -v t="$start" 'BEGIN { printf "%.3f\n", t + 1 }')"
	ip netns exec "$NS_S" wg show "$IF_S" transfer >"$WORK/transfer0"
	sleep_until "$(awk -v t="$start" -v w="$window" 'BEGIN { printf "%.3f\n", t + 1 + w }')"
	ip netns exec "$NS_S" wg show "$IF_S" transfer >"$WORK/transfer1"
	wait
	s1=$(cpu_ticks "$server")
	a1=$(cpu_ticks "${all[@]}")
	local rates=() bytes=0 b r
	for i in $(seq 1 "$n"); do
		r=$(jq -r '(.end.sum_received.bits_per_second // 0) / 1e6' "$WORK/c$i.json" 2>/dev/null || echo 0)
		b=$(jq -r '.end.sum_received.bytes // 0' "$WORK/c$i.json" 2>/dev/null || echo 0)
		rates+=("${r:-0}")
		bytes=$((bytes + ${b:-0}))
	done
	add "$impl" "agg$n" "$(printf '%s\n' "${rates[@]}" | awk '{s += $1} END {printf "%.3f\n", s / 1000}')"
	# Per-peer Mbit/s over the window, from the server's received bytes.
	mapfile -t rates < <(awk -v w="$window" 'NR == FNR { rx0[$1] = $2; next }
		{ printf "%.3f\n", ($2 - rx0[$1]) * 8 / w / 1e6 }' "$WORK/transfer0" "$WORK/transfer1")
	((${#rates[@]} == n)) || echo "    warning: the server listed ${#rates[@]} of $n peers" >&2
	add "$impl" "cpus$n" "$(ns_per $((s1 - s0)) "$bytes")"
	add "$impl" "cpua$n" "$(ns_per $((a1 - a0)) "$bytes")"
	add "$impl" "jain$n" "$(jain "${rates[*]}")"
	add "$impl" "minmax$n" "$(printf '%s\n' "${rates[@]}" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {
		if (hi > 0) printf "%.3f\n", lo / hi; else print "-" }')"
	add "$impl" "zero$n" "$(printf '%s\n' "${rates[@]}" | awk '$1 + 0 == 0 {z++} END {print z + 0}')"
	stop_daemons
}

LOAD0=$(uptime | sed 's/.*load average: //')
for n in $COUNTS; do
	for round in $(seq 1 "$ROUNDS"); do
		for impl in "${IMPLS[@]}"; do
			peers_round "$impl" "$n"
		done
	done
done

report() {
	echo "# Many active peers: wgplex vs wireguard-go, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(hostname), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores, Linux $(uname -r)."
	echo "Load (uptime) at the start: $LOAD0; at the end: $(uptime | sed 's/.*load average: //')." \
		"A load above $(nproc) means other work shared the cores: compare within one run, not across runs."
	echo "wgplex $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty'); wireguard-go $WIREGUARD_GO_VERSION."
	echo "$ROUNDS round(s) alternating ${IMPLS[*]}; each peer a client namespace with its own daemon and one TCP" \
		"stream (iperf3, ${SECS} s) to its own iperf3 server in the server's namespace, all at once;" \
		"clients: $([[ $CLIENTS == same ]] && echo 'the same implementation as the server' || echo "always $CLIENTS"). All clients, the server and every iperf3 share the machine's $(nproc) cores."
	echo "Server CPU = the server daemon's user+system time over the transfer / bytes received by all;" \
		"all daemons = the same with every client daemon added. The clients start together; the fair share (Jain's index:" \
		"1 = equal shares, 1/N = one peer gets all; slowest / fastest) is each peer's bytes received by the server" \
		"(wg show transfer) from 1 s after the start to 1 s before the end, when every client is sending."
	local envs
	envs=$(env | grep '^WGPLEX_' | sort | tr '\n' ' ' || true)
	[[ -n $envs ]] && echo "Environment: $envs"
	echo
	local head="| metric |" line="|---|" impl
	for impl in "${IMPLS[@]}"; do head+=" $impl |"; line+="---|"; done
	((${#IMPLS[@]} > 1)) && head+=" wgplex / wireguard-go |" line+="---|"
	echo "$head"
	echo "$line"
	local n row key label cells
	for n in $COUNTS; do
		for row in "agg$n:$n peers, aggregate TCP Gbit/s" "cpus$n:$n peers, server CPU ns/byte" \
			"cpua$n:$n peers, all daemons' CPU ns/byte" "jain$n:$n peers, Jain's index of per-peer throughput" \
			"minmax$n:$n peers, slowest / fastest peer" "zero$n:$n peers, peers that carried nothing"; do
			key=${row%%:*} label=${row#*:}
			cells="| $label |"
			for impl in "${IMPLS[@]}"; do cells+=" $(spread "${SAMPLES[$impl:$key]:-}") |"; done
			((${#IMPLS[@]} > 1)) && cells+=" $(ratio "$(median "${SAMPLES[wgplex:$key]:-}")" "$(median "${SAMPLES[wireguard-go:$key]:-}")") |"
			echo "$cells"
		done
	done
	echo
	print_samples
}
write_report "-peers"
