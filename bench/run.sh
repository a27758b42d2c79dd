#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Side-by-side benchmark of wgplex and wireguard-go in two network namespaces
# (bench/netns-pair.sh): the same tunnel, the same tools, one run, the two
# implementations measured alternately (A B A B ...) so that a noisy shared
# machine hurts both alike. Prints a table of medians and the
# wgplex / wireguard-go ratio, and writes it to bench/results/<date>.md.
#
#   sudo bench/run.sh                 3 rounds, 10 s per throughput test, 500 pings
#   sudo bench/run.sh -q              quick smoke run: 1 round, 2 s per test, 50 pings
#   sudo bench/run.sh --peers         also the 100,000-peer sections (RSS per idle
#                                     peer, `wg setconf` time, `wg show dump` time)
#
# Options:
#   -q, --quick          1 round, 2 s tests, 50 pings
#   -r, --rounds N       rounds of A B (default 3)
#   -t, --time S         seconds per iperf3 test (default 10)
#   -p, --pings N        pings for the latency test (default 500, 10 ms apart)
#   -u, --udp-rate R     offered rate of the UDP test, iperf3 -b syntax (default 1G)
#   --peers              run the many-peer sections
#   --peers-n N          peers for those sections (default 100000)
#   --only-wgplex        skip wireguard-go (for quick before/after comparisons)
#   --no-install         use `wireguard` from PATH or $GOBIN instead of go install
#   --wgplex BIN         use this wgplex binary instead of building ./cmd/wgplex
#   -o, --out FILE       results file (default bench/results/<date>.md)
#
# Environment variables reach the daemons unchanged, so offloads can be
# compared by running e.g. WGPLEX_TUN_OFFLOAD=off bench/run.sh -q.
#
# Needs root, Go, iperf3, jq, wg (wireguard-tools) and ping; missing packages
# are installed with apt-get when it is available.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# The wireguard-go pseudo-version the comparison is pinned to (the binary
# reports itself as v0.0.20250522); the same as scripts/test.sh.
WIREGUARD_GO_VERSION=v0.0.0-20260522210424-ecfc5a8d5446

ROUNDS=3
SECS=10
PINGS=500
UDP_RATE=1G
PEERS=0
PEERS_N=100000
ONLY_WGPLEX=0
INSTALL=1
WGPLEX_BIN=
OUT=
while [[ $# -gt 0 ]]; do
	case $1 in
	-q | --quick) ROUNDS=1 SECS=2 PINGS=50 ;;
	-r | --rounds) ROUNDS=$2; shift ;;
	-t | --time) SECS=$2; shift ;;
	-p | --pings) PINGS=$2; shift ;;
	-u | --udp-rate) UDP_RATE=$2; shift ;;
	--peers) PEERS=1 ;;
	--peers-n) PEERS_N=$2; shift ;;
	--only-wgplex) ONLY_WGPLEX=1 ;;
	--no-install) INSTALL=0 ;;
	--wgplex) WGPLEX_BIN=$2; shift ;;
	-o | --out) OUT=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

if [[ $(id -u) -ne 0 ]]; then
	echo "bench/run.sh needs root (network namespaces, TUN devices)" >&2
	exit 1
fi

need_packages() {
	local missing=()
	command -v iperf3 >/dev/null || missing+=(iperf3)
	command -v jq >/dev/null || missing+=(jq)
	command -v wg >/dev/null || missing+=(wireguard-tools)
	command -v ping >/dev/null || missing+=(iputils-ping)
	if [[ ${#missing[@]} -gt 0 ]]; then
		if ! command -v apt-get >/dev/null; then
			echo "missing: ${missing[*]}; install them and run again" >&2
			exit 1
		fi
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
	fi
}
need_packages

# Key files (wg genkey) must not be world-readable.
umask 077
WORK=$(mktemp -d /tmp/wgpx-bench.XXXXXX)
# shellcheck source=bench/netns-pair.sh
source "$ROOT/bench/netns-pair.sh"
PEERS_PID=
cleanup() {
	pair_down >/dev/null 2>&1 || true
	# Deleting a namespace does not end the processes in it.
	[[ -n $PEERS_PID ]] && kill "$PEERS_PID" 2>/dev/null
	ip netns del wgpxbench-peers >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# --- binaries ---------------------------------------------------------------
if [[ -z $WGPLEX_BIN ]]; then
	echo "==> building wgplex"
	go build -o "$WORK/wgplex" ./cmd/wgplex
	WGPLEX_BIN=$WORK/wgplex
fi
WGGO_BIN=
if [[ $ONLY_WGPLEX -eq 0 ]]; then
	if [[ $INSTALL -eq 1 ]]; then
		echo "==> go install golang.zx2c4.com/wireguard@$WIREGUARD_GO_VERSION"
		GOBIN=$WORK/bin go install "golang.zx2c4.com/wireguard@$WIREGUARD_GO_VERSION"
		WGGO_BIN=$WORK/bin/wireguard
	else
		WGGO_BIN=$(command -v wireguard || echo "$(go env GOPATH)/bin/wireguard")
	fi
	[[ -x $WGGO_BIN ]] || { echo "no wireguard-go binary at $WGGO_BIN" >&2; exit 1; }
fi
IMPLS=(wgplex)
[[ $ONLY_WGPLEX -eq 0 ]] && IMPLS+=(wireguard-go)
impl_bin() { if [[ $1 == wgplex ]]; then echo "$WGPLEX_BIN"; else echo "$WGGO_BIN"; fi; }

# --- results store: one space-separated list of samples per impl and metric --
declare -A SAMPLES
NOTES=()
add() { SAMPLES[$1:$2]+="$3 "; echo "    $1 $2 = $3"; }
median() {
	# shellcheck disable=SC2086
	printf '%s\n' $1 | sort -g | awk 'NF {v[++n]=$1} END {
		if (n == 0) { print "-"; exit }
		if (n % 2) print v[(n+1)/2]; else printf "%.4g\n", (v[n/2]+v[n/2+1])/2 }'
}

# --- the tests ----------------------------------------------------------------
A() { ip netns exec "$NS_A" "$@"; }

iperf_tcp() { # streams -> Gbit/s received
	A iperf3 -c 10.232.0.2 -t "$SECS" -P "$1" -J 2>/dev/null |
		jq -r '(.end.sum_received.bits_per_second // 0) / 1e9 | . * 1000 | round / 1000'
}

iperf_udp() { # -> "loss% Gbit/s"
	A iperf3 -c 10.232.0.2 -u -b "$UDP_RATE" -l 1392 -t "$SECS" -J 2>/dev/null |
		jq -r '"\(.end.sum.lost_percent // 100 | . * 100 | round / 100) \((.end.sum_received.bits_per_second // .end.sum.bits_per_second // 0) / 1e9 | . * 1000 | round / 1000)"'
}

ping_pcts() { # -> "p50 p99" in ms
	A ping -n -c "$PINGS" -i 0.01 -W 1 10.232.0.2 2>/dev/null |
		sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g |
		awk '{v[NR]=$1} END {
			if (NR == 0) { print "nan nan"; exit }
			i50 = int(NR*0.50 + 0.5); if (i50 < 1) i50 = 1
			i99 = int(NR*0.99 + 0.5); if (i99 < 1) i99 = 1; if (i99 > NR) i99 = NR
			print v[i50], v[i99] }'
}

throughput_round() {
	local impl=$1 bin
	bin=$(impl_bin "$impl")
	echo "==> round $round: $impl"
	pair_up "$bin" "$bin"
	ip netns exec "$NS_B" iperf3 -s >/dev/null 2>&1 &
	sleep 0.5
	add "$impl" tcp1 "$(iperf_tcp 1)"
	add "$impl" tcp4 "$(iperf_tcp 4)"
	local udp
	udp=$(iperf_udp)
	add "$impl" udp_loss "${udp% *}"
	add "$impl" udp_rate "${udp#* }"
	local p
	p=$(ping_pcts)
	add "$impl" ping50 "${p% *}"
	add "$impl" ping99 "${p#* }"
	pair_down
}

for round in $(seq 1 "$ROUNDS"); do
	for impl in "${IMPLS[@]}"; do
		throughput_round "$impl"
	done
done

# --- many peers ---------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

peers_round() {
	local impl=$1 bin ns=wgpxbench-peers ifn=wgpxp0 pid before after t0 t1 t2
	bin=$(impl_bin "$impl")
	echo "==> peers: $impl ($PEERS_N peers)"
	ip netns del "$ns" >/dev/null 2>&1 || true
	ip netns add "$ns"
	ip netns exec "$ns" env LOG_LEVEL=error "$bin" -f "$ifn" >/dev/null 2>&1 &
	pid=$!
	PEERS_PID=$pid
	for _ in $(seq 100); do [[ -S /var/run/wireguard/$ifn.sock ]] && break; sleep 0.05; done
	sleep 0.5
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "$impl daemon exited at start (is another one serving /var/run/wireguard/$ifn.sock?)" >&2
		exit 1
	fi
	before=$(rss_kb "$pid")
	t0=$(date +%s.%N)
	if ! ip netns exec "$ns" wg setconf "$ifn" "$WORK/peers.conf" >"$WORK/setconf.err" 2>&1; then
		# wireguard-go, for one, stops at 2^16 peers.
		local why
		why=$(head -c 160 "$WORK/setconf.err" | tr '\n' ' ')
		echo "    $impl: wg setconf of $PEERS_N peers failed: $why"
		local note="$impl could not apply a $PEERS_N-peer \`wg setconf\` (wg: ${why:-no message}; $(ip netns exec "$ns" wg show "$ifn" peers 2>/dev/null | wc -l) peers configured)"
		[[ " ${NOTES[*]} " == *"$note"* ]] || NOTES+=("$note")
	else
		t1=$(date +%s.%N)
		local peers
		peers=$(ip netns exec "$ns" wg show "$ifn" dump | tail -n +2 | wc -l)
		t2=$(date +%s.%N)
		sleep 1 # let the heap settle after the burst of work
		after=$(rss_kb "$pid")
		add "$impl" setconf_s "$(echo "$t1 - $t0" | bc -l | xargs printf '%.3f')"
		add "$impl" dump_s "$(echo "$t2 - $t1" | bc -l | xargs printf '%.3f')"
		add "$impl" rss_peer_kb "$(echo "($after - $before) / $PEERS_N" | bc -l | xargs printf '%.3f')"
		add "$impl" rss_total_mb "$(echo "$after / 1024" | bc -l | xargs printf '%.1f')"
		[[ $peers -eq $PEERS_N ]] || NOTES+=("$impl listed $peers of $PEERS_N peers after setconf")
	fi
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	PEERS_PID=
	ip netns del "$ns" >/dev/null 2>&1 || true
	rm -f "/var/run/wireguard/$ifn.sock"
}

if [[ $PEERS -eq 1 ]]; then
	echo "==> generating $PEERS_N peer keys"
	go run ./bench/genpeers -n "$PEERS_N" -o "$WORK/peers.conf"
	for round in $(seq 1 "$ROUNDS"); do
		for impl in "${IMPLS[@]}"; do
			peers_round "$impl"
		done
	done
fi

# --- report ---------------------------------------------------------------------
report() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	echo "# wgplex vs wireguard-go, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(hostname), ${cpu:-unknown CPU}, $(nproc) cores, Linux $(uname -r)."
	echo "wgplex $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty');" \
		"wireguard-go $WIREGUARD_GO_VERSION."
	echo "$ROUNDS round(s) A B alternating, ${SECS} s per iperf3 test, $PINGS pings 10 ms apart," \
		"UDP offered at $UDP_RATE (1392-byte datagrams); tunnel MTU ${MTU}."
	local auto=parallel
	(($(nproc) <= 2)) && auto=inline
	echo "wgplex crypto mode: ${WGPLEX_CRYPTO:-auto, i.e. $auto} (see WGPLEX_CRYPTO in the README)."
	local envs
	envs=$(env | grep '^WGPLEX_' | sort | tr '\n' ' ' || true)
	[[ -n $envs ]] && echo "Environment: $envs"
	echo
	echo "| metric (median) | wgplex | wireguard-go | wgplex / wireguard-go |"
	echo "|---|---|---|---|"
	local rows=(
		"tcp1:TCP 1 stream, Gbit/s"
		"tcp4:TCP 4 streams, Gbit/s"
		"udp_rate:UDP at $UDP_RATE offered, received Gbit/s"
		"udp_loss:UDP at $UDP_RATE offered, loss %"
		"ping50:ping p50, ms"
		"ping99:ping p99, ms"
	)
	if [[ $PEERS -eq 1 ]]; then
		rows+=(
			"rss_peer_kb:RSS per idle peer at $PEERS_N peers, KB"
			"rss_total_mb:RSS total at $PEERS_N peers, MB"
			"setconf_s:wg setconf of $PEERS_N peers, s"
			"dump_s:wg show dump at $PEERS_N peers, s"
		)
	fi
	local row key label a b ratio
	for row in "${rows[@]}"; do
		key=${row%%:*} label=${row#*:}
		a=$(median "${SAMPLES[wgplex:$key]:-}")
		b=$(median "${SAMPLES[wireguard-go:$key]:-}")
		ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {
			if (a == "-" || b == "-" || b+0 == 0) print "-"; else printf "%.2f\n", a/b }')
		echo "| $label | $a | $b | $ratio |"
	done
	if [[ ${#NOTES[@]} -gt 0 ]]; then
		echo
		local note
		for note in "${NOTES[@]}"; do echo "Note: $note."; done
	fi
	echo
	echo "Samples (in run order):"
	echo
	for row in "${rows[@]}"; do
		key=${row%%:*}
		for impl in "${IMPLS[@]}"; do
			echo "- $impl $key: ${SAMPLES[$impl:$key]:-}"
		done
	done
}

mkdir -p "$ROOT/bench/results"
[[ -z $OUT ]] && OUT=$ROOT/bench/results/$(date -u +%Y-%m-%d-%H%M%S).md
report | tee "$OUT"
chmod 644 "$OUT"
echo
echo "written to $OUT"
