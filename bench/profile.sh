#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Where the CPU goes while one TCP stream (or -P N) runs through the
# two-namespace tunnel (bench/netns-pair.sh).
#
#   sudo bench/profile.sh [-a] [-P N] [--bin BIN] [SECONDS] [WGPLEX_BIN]
#
# Always: the machine's CPU time over the window split from /proc (each
# daemon, both iperf3 ends, softirq, irq, steal, idle, everything else).
#
# Default: perf record on the sending daemon (namespace A, which reads TUN
# and encrypts) and the receiving one (B, decrypts and writes TUN), then the
# top of each report, flat and by caller.
#
# -a records the whole machine instead (both daemons, both iperf3 ends, the
# kernel's work in any context, idle time) and prints the share of each
# process, the top symbols, and a summary by stage: AEAD, checksums, copies,
# TUN, the UDP/IP/veth path, handshake work (MAC1 checks, cookie replies),
# TCP (iperf3's), syscall entry, Go scheduler and futex wake-ups, Go
# allocation and GC, idle. On a small machine where
# everything shares the cores, that is the budget a faster tunnel must come
# out of.
#
# --bin BIN profiles another daemon (e.g. wireguard-go) the same way; -P N
# runs N streams; --flood PPS adds a paced flood of valid-MAC1 handshake
# initiations against B from a third namespace (bench/benchtool), to see
# where the flood's CPU goes. Without perf (linux-perf / linux-tools) only the /proc split
# is printed. Environment variables such as WGPLEX_AEAD=avx512 reach the
# daemons.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ALL=0
FLOOD_PPS=0
STREAMS=1
BIN=
POS=()
while [[ $# -gt 0 ]]; do
	case $1 in
	-a) ALL=1 ;;
	-P) STREAMS=$2; shift ;;
	--flood) FLOOD_PPS=$2; shift ;;
	--bin) BIN=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) POS+=("$1") ;;
	esac
	shift
done
SECS=${POS[0]:-8}
[[ -z $BIN ]] && BIN=${POS[1]:-}
umask 077
WORK=$(mktemp -d /tmp/wgpx-prof.XXXXXX)
NS_A=wgpxq-a-$$ NS_B=wgpxq-b-$$ NS_F=wgpxq-f-$$ IF=wgpq$$
# shellcheck source=bench/netns-pair.sh
source bench/netns-pair.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck source=bench/flood.sh
source bench/flood.sh
BENCHTOOL=$WORK/benchtool
trap 'set +e; flood_down; pair_down >/dev/null 2>&1' EXIT
if [[ -z $BIN ]]; then
	go build -o "$WORK/wgplex" ./cmd/wgplex
	BIN=$WORK/wgplex
fi
PERF=1
command -v perf >/dev/null || { PERF=0; echo "perf not found (apt-get install linux-perf): /proc split only"; }
pair_up "$BIN" "$BIN"
PA=$(daemon_pids "$NS_A" "$BIN" | head -1)
PB=$(daemon_pids "$NS_B" "$BIN" | head -1)
[[ -n $PA && -n $PB ]] || { echo "daemon processes not found" >&2; exit 1; }
if ((FLOOD_PPS > 0)); then
	go build -o "$BENCHTOOL" ./bench/benchtool
	flood_ns_up
	flood_start $((SECS + 8))
fi
ip netns exec "$NS_B" iperf3 -s -1 >/dev/null 2>&1 &
sleep 0.5
ip netns exec "$NS_A" iperf3 -c 10.232.0.2 -P "$STREAMS" -t $((SECS + 5)) -f g >"$WORK/iperf.out" 2>&1 &
CLIENT=$!
sleep 1
IPERF_PIDS=$( (ip netns pids "$NS_A"; ip netns pids "$NS_B") | while read -r p; do
	[[ $(cat "/proc/$p/comm" 2>/dev/null) == iperf3 ]] && echo "$p"; done | tr '\n' ' ')

# cpu_line: user nice system idle iowait irq softirq steal from /proc/stat.
cpu_line() { awk '/^cpu / {print $2, $3, $4, $5, $6, $7, $8, $9; exit}' /proc/stat; }
S0=$(cpu_line)
A0=$(cpu_ticks "$PA") B0=$(cpu_ticks "$PB")
# shellcheck disable=SC2086
I0=$(cpu_ticks $IPERF_PIDS)
if ((PERF && ALL)); then
	perf record -a -F 499 -g -o "$WORK/all.data" -- sleep "$SECS" 2>/dev/null
elif ((PERF)); then
	perf record -F 999 -g -o "$WORK/a.data" -p "$PA" -- sleep "$SECS" 2>/dev/null &
	PERF_A=$!
	perf record -F 999 -g -o "$WORK/b.data" -p "$PB" -- sleep "$SECS" 2>/dev/null
	wait "$PERF_A"
else
	sleep "$SECS"
fi
S1=$(cpu_line)
A1=$(cpu_ticks "$PA") B1=$(cpu_ticks "$PB")
# shellcheck disable=SC2086
I1=$(cpu_ticks $IPERF_PIDS)
# tids PID...: the thread ids of the processes; perf's "pid" sort key is the
# thread, and a Go daemon runs on several.
tids() {
	local p
	for p in "$@"; do ls "/proc/$p/task" 2>/dev/null; done | tr '\n' ' '
}
DAEMON_TIDS=$(tids "$PA" "$PB")
# shellcheck disable=SC2086
IPERF_TIDS=$(tids $IPERF_PIDS)

wait "$CLIENT" || true
if [[ -n $FLOOD_PID ]]; then
	flood_stop
	echo "=== flood of $FLOOD_PPS valid-MAC1 initiations/s against B: $(cat "$WORK/flood.out")"
fi
echo "=== iperf3 ($STREAMS stream(s), $(basename "$BIN"))"
grep -E 'receiver' "$WORK/iperf.out" | tail -1 || true
echo "=== CPU split over ${SECS} s from /proc, % of all $(nproc) cores (load: $(uptime | sed 's/.*load average: //'))"
awk -v s0="$S0" -v s1="$S1" -v a="$((A1 - A0))" -v b="$((B1 - B0))" -v i="$((I1 - I0))" 'BEGIN {
	split(s0, x); split(s1, y)
	for (k = 1; k <= 8; k++) d[k] = y[k] - x[k]
	total = 0; for (k = 1; k <= 8; k++) total += d[k]
	if (total <= 0) { print "no ticks counted"; exit }
	busy_user_sys = d[1] + d[2] + d[3]
	other = busy_user_sys - a - b - i; if (other < 0) other = 0
	printf "%6.1f%%  daemon A (send: TUN read, encrypt, UDP send)\n", 100 * a / total
	printf "%6.1f%%  daemon B (receive: UDP recv, decrypt, TUN write)\n", 100 * b / total
	printf "%6.1f%%  iperf3, both ends\n", 100 * i / total
	printf "%6.1f%%  softirq (network receive, wherever it ran)\n", 100 * d[7] / total
	printf "%6.1f%%  irq\n", 100 * d[6] / total
	printf "%6.1f%%  everything else in user+system (other processes, kworkers, ksoftirqd)\n", 100 * other / total
	printf "%6.1f%%  steal (the hypervisor gave the vCPU to someone else)\n", 100 * d[8] / total
	printf "%6.1f%%  idle + iowait\n", 100 * (d[4] + d[5]) / total
}'
echo "(a process's figure includes softirq work the kernel charged to it while it ran; the softirq line is"
echo " what the kernel accounted separately)"
((PERF)) || exit 0

# stages: a perf report sorted by comm,dso,symbol -> share per stage.
stages() {
	perf report -i "$1" --no-children --sort pid,symbol -g none --stdio 2>/dev/null |
		awk -v daemons=" $DAEMON_TIDS " -v iperf=" $IPERF_TIDS " '
		/^ +[0-9.]+%/ {
			# "  12.34%  23309:wgplex  [.] symbol"
			pct = $1; sub(/%/, "", pct); pid = $2; comm = $2
			sub(/:.*/, "", pid); sub(/^[^:]*:/, "", comm); sym = ""
			for (k = 3; k < NF; k++) if ($k == "[.]" || $k == "[k]") { sym = $(k + 1); break }
			st = stage(sym, comm)
			who = (pid == 0 || comm == "swapper") ? "idle" : index(iperf, " " pid " ") ? "iperf3" : index(daemons, " " pid " ") ? "daemons" : (comm ~ /^ksoftirqd/) ? "ksoftirqd" : "other"
			s[st] += pct; w[st, who] += pct; tot += pct
		}
		function stage(sym, comm) {
			if (comm == "swapper" || sym ~ /idle|mwait|safe_halt|cpuidle|do_idle/) return "idle"
			if (sym ~ /blake2s|hChaCha20|curve25519|[Xx]25519|fiat|core\/cookie\.|core\/noise\.|core\/ratelimit\./) return "handshake work (BLAKE2s MACs, cookies, X25519)"
			if (sym ~ /[Cc]hacha|[Pp]oly1305|polyBlocks|xorKeyStream|core\/aead\.|AEAD|IFMA|AVX512/) return "AEAD (ChaCha20-Poly1305)"
			if (sym ~ /csum|[Cc]hecksum|tun\.sum(16|64)/) return "checksums"
			if (sym ~ /copy_user|copy_to_iter|copy_from_iter|memmove|memcpy|rep_movs|copyout|copyin|_copy_/) return "copies (kernel<->user, memmove)"
			if (sym ~ /^tun_|tun_get_user|tun_put_user|tun_net_xmit|tun_chr/) return "TUN device"
			if (sym ~ /backends\/tun\.|gro|gso|GRO|GSO/) return "TUN offload (GSO split, GRO coalesce)"
			if (sym ~ /^tcp_|^__tcp|tcp_v4/) return "TCP stack (iperf3 traffic)"
			if (sym ~ /udp|^ip_|^__ip|ipv4|skb|^dev_|netif|veth|napi|net_rx|^sock_|__sys_sendmsg|__sys_recvmsg|sendmmsg|recvmmsg|nf_|fib_|neigh/) return "UDP/IP/veth path"
			if (sym ~ /futex|runtime\.(schedule|findRunnable|park|gopark|ready|notewakeup|notesleep|stealWork|runqgrab|mcall|goready|netpoll|usleep|osyield|lock2|unlock2|futexsleep|futexwakeup|wakep|startm|stopm|mPark|semasleep|semawakeup|checkTimers)|try_to_wake_up|schedule$|__schedule|finish_task_switch|exit_to_user_mode_loop|procyield|_spin_lock|_spin_unlock|queued_spin|pick_next|enqueue_task|dequeue_task|select_task_rq/) return "scheduling, wake-ups, spinlocks"
			if (sym ~ /runtime\.(mallocgc|gcBgMarkWorker|scanobject|gcDrain|greyobject|memclrNoHeapPointers|sweepone|findObject|scanblock|markBits|heapBits|nextFreeFast|mallocgcSmall)/) return "Go allocation and GC"
			if (sym ~ /entry_SYSCALL|syscall_exit|do_syscall|__x64_sys|syscall_enter|syscall\.Syscall|runtime\/internal\/syscall|internal\/runtime\/syscall|exit_to_user|syscall_return/) return "syscall entry/exit"
			if (sym ~ /^runtime\./) return "Go runtime, other"
			if (sym ~ /wgplex|wireguard/) return "tunnel code, other"
			return "other"
		}
		END {
			printf "%-48s %7s %8s %7s %7s %7s\n", "stage", "all", "daemons", "iperf3", "ksoftirqd", "rest"
			n = 0; for (k in s) keys[++n] = k
			for (x = 1; x <= n; x++) for (y = x + 1; y <= n; y++) if (s[keys[y]] > s[keys[x]]) { t = keys[x]; keys[x] = keys[y]; keys[y] = t }
			for (x = 1; x <= n; x++) { k = keys[x]
				printf "%-48s %6.1f%% %7.1f%% %6.1f%% %6.1f%% %6.1f%%\n", k, s[k], w[k, "daemons"], w[k, "iperf3"], w[k, "ksoftirqd"], w[k, "other"] + w[k, "idle"] * (k != "idle") }
		}'
}

if ((ALL)); then
	echo "=== whole machine: share of samples per process (daemon A = $PA sends, daemon B = $PB receives; swapper = idle)"
	perf script -i "$WORK/all.data" -F pid,comm 2>/dev/null |
		awk '{c[$0]++; t++} END {for (k in c) printf "%6.1f%%  %s\n", 100 * c[k] / t, k}' | sort -rn | head -8 || true
	echo "=== by stage, % of all samples (the machine's whole CPU time over the window)"
	stages "$WORK/all.data"
	echo "--- top symbols (self), [k] = kernel"
	perf report -i "$WORK/all.data" --no-children --sort symbol -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -30 || true
	echo "perf data kept in $WORK"
	exit 0
fi
for side in a b; do
	echo "=== side $side ($([[ $side == a ]] && echo 'send: TUN read, encrypt, UDP send' || echo 'receive: UDP recv, decrypt, TUN write'))"
	perf report -i "$WORK/$side.data" --header-only 2>/dev/null | grep -E 'sample|duration' | head -3 || true
	echo "--- by stage, % of this daemon's samples"
	stages "$WORK/$side.data"
	echo "--- flat (self)"
	perf report -i "$WORK/$side.data" --no-children --sort symbol -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -25 || true
	echo "--- inclusive (self + callees), wgplex stages"
	perf report -i "$WORK/$side.data" --children --sort symbol -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' |
		grep -E 'wgplex|chacha20poly1305\.|sys_(read|write|sendmmsg|recvmmsg|sendmsg|recvmsg)|runtime\.(mallocgc|gcBgMarkWorker|schedule|findRunnable)' | head -40 || true
done
echo "perf data kept in $WORK"
