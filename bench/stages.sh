#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Which stage of wgplex's data path costs what, and whether one of them is
# a serial limit. Runs a tunnel between two network namespaces with both
# daemons writing a Go CPU profile (--cpu-profile, WGPLEX_CPU_PROFILE),
# drives iperf3 through it, and splits each daemon's CPU time by the stage
# its goroutines are labelled with (core.StageLabel: device-read,
# socket-receive-N, crypto-worker, crypto-worker-flush-tx and -rx,
# handshake-worker, device-events). A stage that runs one goroutine at a
# time (all but crypto-worker and handshake-worker) at about 1.00 cores is
# running flat out: more cores cannot speed it up, and splitting it
# (multi-queue TUN, one socket per queue) is what would. With fewer Ps
# than busy stages (the daemon's one P on two CPUs) the stages share the
# Ps, and one of them can be the limit well below 1.00.
#
#   sudo bench/stages.sh [-t S] [-P N] [--bin WGPLEX] [--cpus "LIST_A LIST_B"]
#   bench/stages.sh --report -t S A.pprof [B.pprof ...]
#
# -t S          seconds of iperf3 (default 10)
# -P N          parallel streams (default 1)
# --bin WGPLEX  the daemon to run (default: build ./cmd/wgplex)
# --cpus "A B"  pin daemon A and daemon B to these CPU lists (taskset -c),
#               e.g. "0-3 4-7" on a bigger machine
# --keep DIR    keep the two profiles in DIR (a.pprof, b.pprof)
# --report      no tunnel: summarise profiles written earlier (for example
#               by bench/multicore.sh --stages on a machine without Go),
#               taking -t as the seconds the traffic ran
#
# The figures are CPU seconds per second of traffic (cores busy): a
# profile covers the daemon's whole run, and its idle seconds before and
# after the transfer add next to nothing. Needs Go (go tool pprof) for the
# report; the run needs root, iperf3 and wg. Environment variables such as
# WGPLEX_CRYPTO=parallel reach the daemons. Profiling costs the daemons a
# few per cent of CPU.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECS=10
STREAMS=1
BIN=
CPUS=
KEEP=
REPORT=0
POS=()
while [[ $# -gt 0 ]]; do
	case $1 in
	-t) SECS=$2; shift ;;
	-P) STREAMS=$2; shift ;;
	--bin) BIN=$2; shift ;;
	--cpus) CPUS=$2; shift ;;
	--keep) KEEP=$2; shift ;;
	--report) REPORT=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
	*) POS+=("$1") ;;
	esac
	shift
done
command -v go >/dev/null || { echo "stages.sh needs Go for go tool pprof" >&2; exit 1; }

# stage_seconds FILE: "STAGE SECONDS" per stage label in the CPU profile,
# samples without the label as "other". go tool pprof -raw lists each
# sample as "COUNT NANOSECONDS: LOCATIONS" followed by its labels.
stage_seconds() {
	local raw
	raw=$(go tool pprof -raw "$1" 2>&1) || { echo "go tool pprof cannot read $1: ${raw:0:300}" >&2; return 1; }
	awk '
		function commit() { if (have) cpu[stage] += ns; have = 0 }
		/^Samples:/ { in_samples = 1; next }
		/^Locations/ { commit(); in_samples = 0 }
		!in_samples { next }
		/^ *[0-9]+ +[0-9]+:/ { commit(); ns = $2; sub(":", "", ns); ns += 0; stage = "other"; have = 1; next }
		/wgplex\.stage:\[/ { s = $0; sub(/.*wgplex\.stage:\[/, "", s); sub(/\].*/, "", s); stage = s }
		END { commit(); for (s in cpu) printf "%s %.3f\n", s, cpu[s] / 1e9 }' <<<"$raw" | sort
}

# report FILE...: one column of cores busy per profile, a row per stage,
# and one for all stages together.
report() {
	declare -A cores=() # [stage,column] = CPU seconds
	local -a stages=() names=() totals=()
	local f s v out k=0 line
	for f in "$@"; do
		[[ -s $f ]] || { echo "no profile in $f" >&2; return 1; }
		names+=("$(basename "$f" .pprof)")
		out=$(stage_seconds "$f") || return 1
		totals[k]=$(awk '{ s += $2 } END { print s + 0 }' <<<"$out")
		while read -r s v; do
			[[ -n $s ]] || continue
			[[ " ${stages[*]} " == *" $s "* ]] || stages+=("$s")
			cores[$s,$k]=$v
		done <<<"$out"
		k=$((k + 1))
	done
	# per_second SECONDS: cores busy over the traffic's $SECS s.
	per_second() { awk -v v="$1" -v t="$SECS" 'BEGIN { printf "%.2f", v / t }'; }
	echo "CPU seconds per second of traffic ($SECS s), by the stage core labels its goroutines with"
	echo "(other: the Go runtime's own work, GC, timers, UAPI requests)."
	echo
	printf '| stage |'; printf ' %s |' "${names[@]}"; echo
	printf '|---|'; printf -- '---|%.0s' "${names[@]}"; echo
	for s in $(printf '%s\n' "${stages[@]}" | sort); do
		line="| $s |"
		for ((k = 0; k < ${#names[@]}; k++)); do line+=" $(per_second "${cores[$s,$k]:-0}") |"; done
		echo "$line"
	done
	line="| all |"
	for ((k = 0; k < ${#names[@]}; k++)); do line+=" $(per_second "${totals[k]}") |"; done
	echo "$line"
}

if ((REPORT)); then
	((${#POS[@]} > 0)) || { echo "--report needs profile files" >&2; exit 2; }
	report "${POS[@]}"
	exit 0
fi

[[ $(id -u) -eq 0 ]] || { echo "needs root (network namespaces)" >&2; exit 1; }
for t in iperf3 wg ip taskset; do command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }; done
WORK=$(mktemp -d /tmp/wgpx-stages.XXXXXX)
NS_A=wgpxs-a-$$ NS_B=wgpxs-b-$$ IF=wgps$$
# shellcheck source=bench/netns-pair.sh
source "$ROOT/bench/netns-pair.sh"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap 'set +e; pair_down >/dev/null 2>&1; rm -rf "$WORK"' EXIT
if [[ -z $BIN ]]; then
	(cd "$ROOT" && go build -o "$WORK/wgplex" ./cmd/wgplex)
	BIN=$WORK/wgplex
fi
BIN=$(readlink -f "$BIN")
read -r CPU_A CPU_B <<<"$CPUS"
# daemon_wrapper FILE PROFILE CPULIST: a script that starts the daemon
# writing PROFILE, pinned to CPULIST when one is given.
daemon_wrapper() {
	local pin=()
	[[ -n $3 ]] && pin=(taskset -c "$3")
	wrapper "$1" env "WGPLEX_CPU_PROFILE=$2" "${pin[@]}" "$BIN"
}
daemon_wrapper "$WORK/run-a" "$WORK/a.pprof" "${CPU_A:-}"
daemon_wrapper "$WORK/run-b" "$WORK/b.pprof" "${CPU_B:-}"
pair_up "$WORK/run-a" "$WORK/run-b"
mapfile -t PIDS < <(daemon_pids "$NS_A" "$BIN"; daemon_pids "$NS_B" "$BIN")
((${#PIDS[@]} == 2)) || { echo "expected 2 daemons, found ${#PIDS[@]}" >&2; exit 1; }
ip netns exec "$NS_B" iperf3 -s -1 >/dev/null 2>&1 &
sleep 0.5
T0=$(cpu_ticks "${PIDS[@]}")
ip netns exec "$NS_A" iperf3 -c 10.232.0.2 -P "$STREAMS" -t "$SECS" -f g >"$WORK/iperf.out" 2>&1
TICKS=$(($(cpu_ticks "${PIDS[@]}") - T0))
# The profiles are complete once the daemons have stopped: SIGTERM, then
# wait for them (a daemon writes its profile last, after the tunnel).
kill -TERM "${PIDS[@]}"
wait_gone 15 "${PIDS[@]}" || { echo "a daemon did not stop within 15 s" >&2; exit 1; }
echo "$("$BIN" --version 2>/dev/null | head -1); WGPLEX_CRYPTO=${WGPLEX_CRYPTO:-auto}; $STREAMS stream(s), $SECS s${CPUS:+, daemons pinned to $CPU_A and $CPU_B}"
# Kept before anything else can fail: the EXIT trap removes $WORK.
if [[ -n $KEEP ]]; then
	mkdir -p "$KEEP"
	cp "$WORK/a.pprof" "$WORK/b.pprof" "$KEEP/"
fi
grep -E 'receiver$' "$WORK/iperf.out" | tail -1 || echo "(no iperf3 receiver line: $(tail -c 300 "$WORK/iperf.out" | tr '\n' ' '))"
awk -v t="$TICKS" -v hz="$CLK_TCK" -v s="$SECS" 'BEGIN { printf "both daemons, from /proc: %.2f cores busy\n\n", t / hz / s }'
report "$WORK/a.pprof" "$WORK/b.pprof"
