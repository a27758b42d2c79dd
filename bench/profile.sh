#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CPU profile of both wgplex daemons while one TCP stream runs through the
# tunnel: perf record on the sending side (namespace A, which reads TUN and
# encrypts) and the receiving side (namespace B, which decrypts and writes
# TUN), then the top of each report, flat and by caller.
#
#   sudo bench/profile.sh [-a] [SECONDS] [WGPLEX_BIN]
#
# -a records the whole machine instead (both daemons, both iperf3 ends, the
# kernel's work in any context, idle time) and prints the share of each
# process and the top symbols: on a small machine where everything shares
# the cores, that is the budget a faster tunnel must come out of.
#
# Needs perf (linux-perf / linux-tools). Environment variables such as
# WGPLEX_TUN_OFFLOAD=off reach the daemons, to profile with an offload off.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ALL=0
if [[ ${1:-} == -a ]]; then
	ALL=1
	shift
fi
SECS=${1:-8}
BIN=${2:-}
umask 077
WORK=$(mktemp -d /tmp/wgpx-prof.XXXXXX)
# shellcheck source=bench/netns-pair.sh
source bench/netns-pair.sh
trap 'pair_down >/dev/null 2>&1 || true' EXIT
if [[ -z $BIN ]]; then
	go build -o "$WORK/wgplex" ./cmd/wgplex
	BIN=$WORK/wgplex
fi
pair_up "$BIN" "$BIN"
pid_of() { ip netns pids "$1" | while read -r p; do
	[[ $(readlink "/proc/$p/exe") == "$(readlink -f "$BIN")" ]] && echo "$p"; done | head -1; }
PA=$(pid_of "$NS_A")
PB=$(pid_of "$NS_B")
[[ -n $PA && -n $PB ]] || { echo "daemon processes not found" >&2; exit 1; }
ip netns exec "$NS_B" iperf3 -s -1 >/dev/null 2>&1 &
sleep 0.5
ip netns exec "$NS_A" iperf3 -c 10.232.0.2 -t $((SECS + 2)) -f g | tail -4 &
CLIENT=$!
sleep 1
if ((ALL)); then
	perf record -a -F 499 -g -o "$WORK/all.data" -- sleep "$SECS" 2>/dev/null
	wait "$CLIENT"
	echo "=== whole machine: share of samples per process (daemon A = $PA sends, daemon B = $PB receives; swapper = idle)"
	perf script -i "$WORK/all.data" -F pid,comm 2>/dev/null |
		awk '{c[$0]++; t++} END {for (k in c) printf "%6.1f%%  %s\n", 100 * c[k] / t, k}' | sort -rn | head -8
	echo "--- top symbols (self), [k] = kernel"
	perf report -i "$WORK/all.data" --no-children --sort symbol -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -30 || true
	echo "perf data kept in $WORK"
	exit 0
fi
perf record -F 999 -g -o "$WORK/a.data" -p "$PA" -- sleep "$SECS" 2>/dev/null &
PERF_A=$!
perf record -F 999 -g -o "$WORK/b.data" -p "$PB" -- sleep "$SECS" 2>/dev/null
wait "$PERF_A" "$CLIENT"
for side in a b; do
	echo "=== side $side ($([[ $side == a ]] && echo 'send: TUN read, encrypt, UDP send' || echo 'receive: UDP recv, decrypt, TUN write'))"
	perf report -i "$WORK/$side.data" --header-only 2>/dev/null | grep -E 'sample|duration' | head -3 || true
	echo "--- flat (self)"
	perf report -i "$WORK/$side.data" --no-children --sort symbol -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -25 || true
	echo "--- inclusive (self + callees), wgplex stages"
	perf report -i "$WORK/$side.data" --children --sort symbol -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' |
		grep -E 'wgplex|chacha20poly1305\.|sys_(read|write|sendmmsg|recvmmsg|sendmsg|recvmsg)|runtime\.(mallocgc|gcBgMarkWorker|schedule|findRunnable)' | head -40 || true
done
echo "perf data kept in $WORK"
