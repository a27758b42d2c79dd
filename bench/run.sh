#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Side-by-side benchmark of wgplex and wireguard-go in two network namespaces
# (bench/netns-pair.sh): the same tunnel, the same tools, one run, the two
# implementations measured alternately (A B A B ...) so that a noisy shared
# machine hurts both alike. wgplex runs twice per round, as built (x/crypto's
# AEAD) and with WGPLEX_AEAD=avx512 (core/aead's opt-in AVX-512 AEAD, the
# same as built on a CPU without AVX-512 IFMA), so a round is: wgplex,
# wgplex-avx512, wireguard-go. Prints a table of
# min/median/max and the ratios to wireguard-go, and writes it to
# bench/results/<date>.md.
#
# Besides throughput it measures what each byte costs: the CPU time
# (utime+stime from /proc/PID/stat) of the two daemons, both ends of the
# tunnel, over each transfer, divided by the bytes iperf3 reports received;
# the same per packet for 64-byte UDP and per ping (from schedstat, in
# nanoseconds: a ping 10 ms after the last finds every cache cold, which is
# what its CPU measures); and, with bench/benchtool, the TCP
# throughput kept under a paced flood of handshake initiations with a valid
# MAC1 (sent from a third namespace, so the legitimate peer's address is not
# the flooder's), beside what the same flood costs when nftables drops it
# before any socket (the ceiling: the flood's sender and the kernel share
# the cores with the tunnel), and the time a fresh handshake takes to
# complete while the flood goes on.
#
#   sudo bench/run.sh                 3 rounds, 10 s per throughput test, 500 pings
#   sudo bench/run.sh -q              quick smoke run: 1 round, 2 s per test, 50 pings
#   sudo bench/run.sh --peers         also the 100,000-peer sections (RSS per idle
#                                     peer, `wg setconf` time, `wg show dump` time)
#   sudo bench/run.sh --flood-ceiling --aead2 none -t 5
#                                     only the flood: what a 50k pps flood costs
#                                     the tunnel when it never reaches the daemon
#                                     (dropped by nftables, sent to a closed port,
#                                     to a socket that never reads) beside what it
#                                     costs when it does, to tell the shared
#                                     machine's share of the loss from the daemon's
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
#   --aead2 MODE         the second wgplex variant's WGPLEX_AEAD (default avx512;
#                        "none" runs wgplex only as built)
#   --env2 VAR=VALUE     a wgplex variant run with VAR=VALUE instead of the
#                        --aead2 one, named wgplex+VALUE (e.g. --env2
#                        WGPLEX_READER=poll gives wgplex+poll); may be repeated
#   --udp64-rate R       offered rate of the 64-byte UDP test (default 64M,
#                        125,000 packets/s)
#   --flood-pps N        rate of the handshake flood (default 50000; 0 skips
#                        the flood and handshake tests)
#   --flood-ceiling      run only the flood ceiling section (see above) instead
#                        of the throughput, latency and flood rows
#   --no-install         use `wireguard` from PATH or $GOBIN instead of go install
#   --wgplex BIN         use this wgplex binary instead of building ./cmd/wgplex
#   --compare BIN        also run this wgplex binary in every round, as
#                        "wgplex-compare" (e.g. a build from before a change);
#                        given again, the next is "wgplex-compare2", and so on
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
AEAD2=avx512
ENV2=()
UDP64_RATE=64M
FLOOD_PPS=50000
CEILING=0
INSTALL=1
WGPLEX_BIN=
COMPARE_BINS=()
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
	--aead2) AEAD2=$2; shift ;;
	--env2) ENV2+=("$2"); shift ;;
	--udp64-rate) UDP64_RATE=$2; shift ;;
	--flood-pps) FLOOD_PPS=$2; shift ;;
	--flood-ceiling) CEILING=1 ;;
	--no-install) INSTALL=0 ;;
	--wgplex) WGPLEX_BIN=$2; shift ;;
	--compare) COMPARE_BINS+=("$(readlink -f "$2")"); shift ;;
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
	# The flood rows' ceiling and --flood-ceiling drop the flood in nftables.
	((FLOOD_PPS > 0)) && ! command -v nft >/dev/null && missing+=(nftables)
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
# Names carry the pid, so that two runs on one machine (or a run and a test)
# do not tear down each other's namespaces or share a UAPI socket.
NS_A=wgpxb-a-$$ NS_B=wgpxb-b-$$ NS_F=wgpxb-f-$$ IF=wgpx$$
# shellcheck source=bench/netns-pair.sh
source "$ROOT/bench/netns-pair.sh"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/flood.sh
source "$ROOT/bench/flood.sh"
PEERS_PID=
cleanup() {
	set +e
	flood_down
	pair_down >/dev/null 2>&1 || true
	# Deleting a namespace does not end the processes in it.
	[[ -n $PEERS_PID ]] && kill "$PEERS_PID" 2>/dev/null
	ip netns del "wgpxb-p-$$" >/dev/null 2>&1 || true
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
BENCHTOOL=
if ((FLOOD_PPS > 0)); then
	echo "==> building bench/benchtool"
	go build -o "$WORK/benchtool" ./bench/benchtool
	BENCHTOOL=$WORK/benchtool
fi
IMPLS=(wgplex)
declare -A VARIANT_ENV
for e in "${ENV2[@]}"; do
	if [[ $e != [A-Za-z_]*=* ]]; then
		echo "--env2 wants VAR=VALUE, got $e" >&2
		exit 2
	fi
	IMPLS+=("wgplex+${e#*=}")
	VARIANT_ENV[wgplex+${e#*=}]=$e
done
[[ ${#ENV2[@]} -eq 0 && $AEAD2 != none ]] && IMPLS+=("wgplex-$AEAD2")
for ((i = 1; i <= ${#COMPARE_BINS[@]}; i++)); do
	if ((i == 1)); then IMPLS+=(wgplex-compare); else IMPLS+=("wgplex-compare$i"); fi
done
[[ $ONLY_WGPLEX -eq 0 ]] && IMPLS+=(wireguard-go)
impl_bin() {
	case $1 in
	wgplex-compare) echo "${COMPARE_BINS[0]}" ;;
	wgplex-compare*) echo "${COMPARE_BINS[${1#wgplex-compare} - 1]}" ;;
	wgplex*) echo "$WGPLEX_BIN" ;;
	*) echo "$WGGO_BIN" ;;
	esac
}
# impl_run IMPL CMD...: CMD with the environment IMPL's daemons get.
impl_run() {
	local impl=$1
	shift
	if [[ $impl == wgplex+* ]]; then
		local -x "${VARIANT_ENV[$impl]}"
		"$@"
	elif [[ $impl == wgplex-* && $impl != wgplex-compare* ]]; then
		WGPLEX_AEAD=${impl#wgplex-} "$@"
	else
		"$@"
	fi
}

# --- results store: one space-separated list of samples per impl and metric --
declare -A SAMPLES
NOTES=()
add() { SAMPLES[$1:$2]+="$3 "; echo "    $1 $2 = $3"; }
# --- the tests ----------------------------------------------------------------
A() { ip netns exec "$NS_A" "$@"; }
DAEMONS=() # both daemons of the pair now up

iperf_tcp() { # streams -> "Gbit/s ns-of-daemon-CPU-per-byte"
	local c0 c1 j
	c0=$(cpu_ticks "${DAEMONS[@]}")
	j=$(A iperf3 -c 10.232.0.2 -t "$SECS" -P "$1" -J 2>/dev/null || true)
	c1=$(cpu_ticks "${DAEMONS[@]}")
	local bps bytes
	bps=$(jq -r '(.end.sum_received.bits_per_second // 0) / 1e9 | . * 1000 | round / 1000' <<<"$j" 2>/dev/null || echo 0)
	bytes=$(jq -r '.end.sum_received.bytes // 0' <<<"$j" 2>/dev/null || echo 0)
	echo "$bps $(ns_per $((c1 - c0)) "$bytes")"
}

iperf_udp64() { # -> "received-kpps ns-of-daemon-CPU-per-received-packet"
	local c0 c1 j
	c0=$(cpu_ticks "${DAEMONS[@]}")
	j=$(A iperf3 -c 10.232.0.2 -u -b "$UDP64_RATE" -l 64 -t "$SECS" -J 2>/dev/null || true)
	c1=$(cpu_ticks "${DAEMONS[@]}")
	local pkts secs
	pkts=$(jq -r '((.end.sum.packets // 0) - (.end.sum.lost_packets // 0))' <<<"$j" 2>/dev/null || echo 0)
	secs=$(jq -r '.end.sum.seconds // 0' <<<"$j" 2>/dev/null || echo 0)
	echo "$(awk -v p="$pkts" -v s="$secs" 'BEGIN { if (s > 0) printf "%.1f\n", p / s / 1000; else print 0 }') $(ns_per $((c1 - c0)) "$pkts")"
}

iperf_udp() { # -> "loss% Gbit/s"
	A iperf3 -c 10.232.0.2 -u -b "$UDP_RATE" -l 1392 -t "$SECS" -J 2>/dev/null |
		jq -r '"\(.end.sum.lost_percent // 100 | . * 100 | round / 100) \((.end.sum_received.bits_per_second // .end.sum.bits_per_second // 0) / 1e9 | . * 1000 | round / 1000)"'
}

ping_pcts() { # -> "p50 p99 us-of-daemon-CPU-per-ping"
	local c0 p
	c0=$(cpu_ns "${DAEMONS[@]}")
	p=$(A ping -n -c "$PINGS" -i 0.01 -W 1 10.232.0.2 2>/dev/null | ping_p50_p99)
	echo "$p $((($(cpu_ns "${DAEMONS[@]}") - c0) / PINGS / 1000))"
}

# handshake_during_flood: A forgets B and learns it again, so the next packet
# needs a fresh handshake, which B must answer while the flood goes on.
# Prints the seconds from the re-add to the first ping answered (a ping every
# 50 ms; 30 means none within 30 s).
handshake_during_flood() {
	local pub t0 t1
	pub=$(A wg show "${IF}a" peers | head -1)
	A wg set "${IF}a" peer "$pub" remove
	t0=$(date +%s.%N)
	A wg set "${IF}a" peer "$pub" allowed-ips 10.232.0.2/32 endpoint 10.231.0.2:51820
	if A ping -n -q -c 1 -i 0.05 -w 30 10.232.0.2 >/dev/null 2>&1; then
		t1=$(date +%s.%N)
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
	else
		echo 30
	fi
}

# pair_start IMPL BIN: the pair up with IMPL's daemons (BIN) at both ends,
# their pids in DAEMONS, and an iperf3 server in B.
pair_start() {
	impl_run "$1" pair_up "$2" "$2"
	mapfile -t DAEMONS < <(daemon_pids "$NS_A" "$2"; daemon_pids "$NS_B" "$2")
	if [[ ${#DAEMONS[@]} -ne 2 ]]; then
		echo "expected 2 daemon processes, found ${#DAEMONS[@]} (${DAEMONS[*]})" >&2
		exit 1
	fi
	ip netns exec "$NS_B" iperf3 -s >/dev/null 2>&1 &
}

throughput_round() {
	local impl=$1 bin r
	bin=$(impl_bin "$impl")
	echo "==> round $round: $impl"
	pair_start "$impl" "$bin"
	sleep 0.5
	r=$(iperf_tcp 1)
	add "$impl" tcp1 "${r% *}"
	add "$impl" cpu_tcp1 "${r#* }"
	r=$(iperf_tcp 4)
	add "$impl" tcp4 "${r% *}"
	add "$impl" cpu_tcp4 "${r#* }"
	r=$(iperf_udp64)
	add "$impl" udp64_kpps "${r% *}"
	add "$impl" cpu_udp64 "${r#* }"
	local udp
	udp=$(iperf_udp)
	add "$impl" udp_loss "${udp% *}"
	add "$impl" udp_rate "${udp#* }"
	local p50 p99 pcpu
	read -r p50 p99 pcpu <<<"$(ping_pcts)"
	add "$impl" ping50 "$p50"
	add "$impl" ping99 "$p99"
	add "$impl" cpu_ping "$pcpu"
	if ((FLOOD_PPS > 0)); then
		flood_ns_up
		local c0 tput
		tput=$(awk '{print $NF}' <<<"${SAMPLES[$impl:tcp1]}") # this round's
		flood_start $((SECS + 3))
		r=$(iperf_tcp 1)
		flood_stop
		add "$impl" flood_tcp1 "${r% *}"
		add "$impl" flood_keep "$(percent "${r% *}" "$tput")"
		add "$impl" flood_pps "$(flood_pps)"
		# The same flood dropped by nftables before any socket: what it
		# costs the stream through the sender and the kernel alone, on
		# the cores the tunnel shares; the most any daemon could keep.
		if nft_drop_on; then
			flood_start $((SECS + 3))
			r=$(iperf_tcp 1)
			flood_stop
			nft_drop_off
			add "$impl" flood_nft_keep "$(percent "${r% *}" "$tput")"
		elif [[ " ${NOTES[*]} " != *" nftables "* ]]; then
			NOTES+=("no ceiling row: nftables does not work here (nft failed in the namespace), so the flood rows are measured without it")
		fi
		# The flood alone, no data flowing: the daemons' CPU over 2 s (in %
		# of one core), then a fresh handshake while it goes on.
		flood_start 45
		c0=$(cpu_ticks "${DAEMONS[@]}")
		sleep 2
		add "$impl" flood_cpu "$(awk -v t="$(($(cpu_ticks "${DAEMONS[@]}") - c0))" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f\n", 100 * t / hz / 2 }')"
		add "$impl" flood_hs "$(handshake_during_flood)"
		flood_stop
	fi
	pair_down
	flood_down
}

# nft_drop_on, nft_drop_off: an nftables rule in B's namespace that drops
# the flood (what arrives from the flood namespace's veth for port 51820)
# at prerouting, before routing or any socket, and its removal.
nft_drop_on() {
	ip netns exec "$NS_B" nft -f - <<-NFT
		table inet wgpxflood {
			chain pre {
				type filter hook prerouting priority raw; policy accept;
				iifname "wgpxbf1" udp dport 51820 counter drop
			}
		}
	NFT
}
nft_drop_off() { ip netns exec "$NS_B" nft delete table inet wgpxflood; }

# --- flood ceiling (--flood-ceiling) --------------------------------------------
# On a small machine the flood's sender and the kernel's receive of its
# datagrams run on the same cores as iperf3 and both daemons, so part of the
# throughput a flood costs is not the daemon's at all. Each condition below
# runs one TCP stream for $SECS s with the flood going (after 1 s for the
# responder to notice it):
#   none    no flood: the round's reference
#   nft     the flood dropped by an nftables rule in B's namespace at
#           prerouting, before routing or any socket: the sender and the
#           veth only
#   closed  the flood sent to a port nobody listens on: the kernel's IP and
#           UDP receive up to the socket lookup (ICMP errors are rate limited)
#   sink    the flood sent to a socket that never reads (benchtool sink): the
#           kernel's receive up to the socket's full buffer, where it drops
#   daemon  the flood sent to the daemon, as in the flood row of the main run;
#           then a fresh handshake while it goes on, and the daemons' CPU
#           over 5 s of the flood alone
# The first implementation of the run gets all five, the others none and
# daemon. The order of the conditions rotates from round to round.

# stat_ticks: "total softirq idle" clock ticks of the whole machine.
stat_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $8, $5 + $6; exit}' /proc/stat; }

# ceiling_cond IMPL COND: one condition; records Gbit/s and the CPU split.
ceiling_cond() {
	local impl=$1 cond=$2 port=51820 sink='' s0 s1 d0 d1 f0 f1 r
	case $cond in
	none) port= ;;
	nft) nft_drop_on ;;
	closed) port=51821 ;;
	sink)
		port=51822
		ip netns exec "$NS_B" "$BENCHTOOL" sink -listen 10.231.1.2:51822 -for $((SECS + 60))s &
		sink=$!
		;;
	esac
	[[ -n $port ]] && flood_start $((SECS + 40)) "$port"
	s0=$(stat_ticks) d0=$(cpu_ticks "${DAEMONS[@]}")
	f0=$([[ -n $FLOOD_PID ]] && cpu_ticks "$FLOOD_PID" || echo 0)
	r=$(iperf_tcp 1)
	s1=$(stat_ticks) d1=$(cpu_ticks "${DAEMONS[@]}")
	f1=$([[ -n $FLOOD_PID ]] && cpu_ticks "$FLOOD_PID" || echo 0)
	if [[ $cond == daemon ]]; then
		add "$impl" "$cond:hs" "$(handshake_during_flood)"
		# The flood alone, no data flowing: the daemons' CPU over 5 s.
		local c0
		c0=$(cpu_ticks "${DAEMONS[@]}")
		sleep 5
		add "$impl" "$cond:alone" "$(awk -v t="$(($(cpu_ticks "${DAEMONS[@]}") - c0))" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f\n", t / hz / 5 }')"
	fi
	flood_stop
	[[ -n $sink ]] && { kill "$sink" 2>/dev/null; wait "$sink" 2>/dev/null || true; }
	[[ $cond == nft ]] && nft_drop_off
	add "$impl" "$cond:tcp" "${r% *}"
	[[ -n $port ]] && add "$impl" "$cond:pps" "$(flood_pps)"
	# CPU in cores (1 = one core busy for the whole window), from the
	# machine's ticks: the flood sender (with whatever receive work the
	# kernel did in its system calls), both daemons, softirq wherever it
	# was accounted, idle.
	read -r -a s0 <<<"$s0"
	read -r -a s1 <<<"$s1"
	local tot=$((s1[0] - s0[0])) n
	n=$(nproc)
	add "$impl" "$cond:flooder" "$(cores $((f1 - f0)) "$tot" "$n")"
	add "$impl" "$cond:daemons" "$(cores $((d1 - d0)) "$tot" "$n")"
	add "$impl" "$cond:softirq" "$(cores $((s1[1] - s0[1])) "$tot" "$n")"
	add "$impl" "$cond:idle" "$(cores $((s1[2] - s0[2])) "$tot" "$n")"
}

# cores TICKS TOTAL N: TICKS of TOTAL machine-wide ticks, in cores of N.
cores() { awk -v t="$1" -v a="$2" -v n="$3" 'BEGIN { printf "%.2f\n", (a > 0 ? n * t / a : 0) }'; }

CEILING_CONDS=(none nft closed sink daemon)
ceiling_round() {
	local impl=$1 bin conds c i k base
	bin=$(impl_bin "$impl")
	echo "==> round $round: $impl (flood ceiling)"
	pair_start "$impl" "$bin"
	flood_ns_up
	sleep 0.5
	if [[ $impl == "${IMPLS[0]}" ]]; then conds=("${CEILING_CONDS[@]}"); else conds=(none daemon); fi
	k=$(((round - 1) % ${#conds[@]}))
	for ((i = 0; i < ${#conds[@]}; i++)); do
		ceiling_cond "$impl" "${conds[$(((i + k) % ${#conds[@]}))]}"
	done
	base=$(awk '{print $NF}' <<<"${SAMPLES[$impl:none:tcp]}") # this round's
	for c in "${conds[@]}"; do
		[[ $c == none ]] && continue
		add "$impl" "$c:keep" "$(percent "$(awk '{print $NF}' <<<"${SAMPLES[$impl:$c:tcp]}")" "$base")"
	done
	pair_down
	flood_down
}

ceiling_report() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	echo "# Flood ceiling: what a $FLOOD_PPS pps flood costs the tunnel, daemon or not, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(hostname), ${cpu:-unknown CPU}, $(nproc) cores, Linux $(uname -r)."
	echo "Load (uptime) at the start: $LOAD0; at the end: $(uptime | sed 's/.*load average: //')."
	echo "wgplex $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty');" \
		"wireguard-go $WIREGUARD_GO_VERSION. \`bench/run.sh --flood-ceiling\`, $ROUNDS round(s) alternating ${IMPLS[*]}," \
		"${SECS} s of one TCP stream per condition, conditions rotated from round to round."
	echo
	echo "Flood: $FLOOD_PPS initiations/s with a valid MAC1 (bench/benchtool flood) from a third namespace to B." \
		"kept = TCP 1 stream under the condition / the same pair's, same round's TCP 1 stream without a flood." \
		"CPU columns are in cores (this machine has $(nproc)) over the transfer, from /proc: the flood sender" \
		"(with the receive work the kernel did inside its send calls), both daemons, softirq wherever the" \
		"kernel accounted it, idle. Each cell is the median with (min-max)."
	echo
	echo "| condition | implementation | TCP 1 stream, Gbit/s | kept, % | flood sender, cores | daemons, cores | softirq, cores | idle, cores | fresh handshake, s | daemons on the flood alone, cores | flood pps |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	local impl c label
	for c in "${CEILING_CONDS[@]}"; do
		case $c in
		none) label="(a) no flood" ;;
		nft) label="(b) dropped by nftables before any socket" ;;
		closed) label="(c) to a closed port" ;;
		sink) label="(c') to a socket that never reads" ;;
		daemon) label="(d/e) to the daemon" ;;
		esac
		for impl in "${IMPLS[@]}"; do
			[[ -n ${SAMPLES[$impl:$c:tcp]:-} ]] || continue
			echo "| $label | $impl | $(spread "${SAMPLES[$impl:$c:tcp]:-}") | $(spread "${SAMPLES[$impl:$c:keep]:-}") |" \
				"$(spread "${SAMPLES[$impl:$c:flooder]:-}") | $(spread "${SAMPLES[$impl:$c:daemons]:-}") |" \
				"$(spread "${SAMPLES[$impl:$c:softirq]:-}") | $(spread "${SAMPLES[$impl:$c:idle]:-}") |" \
				"$(spread "${SAMPLES[$impl:$c:hs]:-}") | $(spread "${SAMPLES[$impl:$c:alone]:-}") |" \
				"$(spread "${SAMPLES[$impl:$c:pps]:-}") |"
		done
	done
	echo
	print_samples
}

LOAD0=$(uptime | sed 's/.*load average: //')
if ((CEILING)); then
	((FLOOD_PPS > 0)) || { echo "--flood-ceiling needs --flood-pps above 0" >&2; exit 2; }
	for round in $(seq 1 "$ROUNDS"); do
		for impl in "${IMPLS[@]}"; do
			ceiling_round "$impl"
		done
	done
	report() { ceiling_report; }
	write_report "-flood-ceiling"
	exit 0
fi
for round in $(seq 1 "$ROUNDS"); do
	for impl in "${IMPLS[@]}"; do
		throughput_round "$impl"
	done
done

# --- many peers ---------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

peers_round() {
	local impl=$1 bin ns=wgpxb-p-$$ ifn=wgpxp$$ pid before after t0 t1 t2
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
		local note configured
		configured=$(ip netns exec "$ns" wg show "$ifn" peers 2>/dev/null | wc -l)
		note="$impl could not apply a $PEERS_N-peer \`wg setconf\` (wg: ${why:-no message}; $configured peers configured)"
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
			[[ $impl == wgplex[-+]* ]] || peers_round "$impl"
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
	echo "Load (uptime) at the start: $LOAD0; at the end: $(uptime | sed 's/.*load average: //')." \
		"A load above $(nproc) means other work shared the cores: compare within one run, not across runs."
	echo "wgplex $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty');" \
		"wireguard-go $WIREGUARD_GO_VERSION."
	echo "$ROUNDS round(s) alternating ${IMPLS[*]}, ${SECS} s per iperf3 test, $PINGS pings 10 ms apart," \
		"UDP offered at $UDP_RATE (1392-byte datagrams) and at $UDP64_RATE (64-byte datagrams); tunnel MTU ${MTU}."
	local auto=parallel
	(($(nproc) <= 2)) && auto=inline
	echo "wgplex crypto mode: ${WGPLEX_CRYPTO:-auto, i.e. $auto} (see WGPLEX_CRYPTO in the README)."
	# WGPLEX_AEAD=avx512 falls back to x/crypto's where the CPU lacks any of
	# these; say which one a wgplex-avx512 column measured.
	local f ifma=yes
	for f in avx512f avx512vl avx512bw avx512ifma; do
		grep -qw "$f" /proc/cpuinfo || ifma=no
	done
	echo "AVX-512 with IFMA on this CPU: $ifma (WGPLEX_AEAD=avx512 uses x/crypto's AEAD without it; the default is x/crypto's)."
	local envs
	envs=$(env | grep '^WGPLEX_' | sort | tr '\n' ' ' || true)
	[[ -n $envs ]] && echo "Environment: $envs"
	local e
	for e in "${ENV2[@]}"; do echo "wgplex+${e#*=} is the same binary run with $e."; done
	echo
	echo "CPU figures are the user+system time of both daemons (both ends of the tunnel) over the" \
		"transfer, divided by the bytes (or 64-byte packets) iperf3 saw received; iperf3, the kernel's" \
		"softirq work and the flood sender are not in them. Each cell is the median with (min-max)."
	((FLOOD_PPS > 0)) && echo "Flood: $FLOOD_PPS initiations/s with a valid MAC1 from a third namespace to B;" \
		"kept = TCP 1 stream under the flood / the same round's TCP 1 stream without it" \
		"(and with the flood dropped by nftables before it reaches any socket: what the flood's sender and the kernel alone cost);" \
		"handshake = seconds from A re-adding B as a new peer to the first ping answered, during the flood."
	echo
	local head="| metric |" line="|---|" impl
	for impl in "${IMPLS[@]}"; do head+=" $impl |"; line+="---|"; done
	if [[ ${IMPLS[-1]} == wireguard-go ]]; then
		for impl in "${IMPLS[@]}"; do
			[[ $impl == wireguard-go ]] || { head+=" $impl / wireguard-go |"; line+="---|"; }
		done
	fi
	echo "$head"
	echo "$line"
	local rows=(
		"tcp1:TCP 1 stream, Gbit/s"
		"cpu_tcp1:TCP 1 stream, daemon CPU ns/byte"
		"tcp4:TCP 4 streams, Gbit/s"
		"cpu_tcp4:TCP 4 streams, daemon CPU ns/byte"
		"udp64_kpps:UDP 64-byte at $UDP64_RATE offered, received kpps"
		"cpu_udp64:UDP 64-byte, daemon CPU ns/packet"
		"udp_rate:UDP at $UDP_RATE offered, received Gbit/s"
		"udp_loss:UDP at $UDP_RATE offered, loss %"
		"ping50:ping p50, ms"
		"ping99:ping p99, ms"
		"cpu_ping:ping, daemon CPU us per ping"
	)
	if ((FLOOD_PPS > 0)); then
		rows+=(
			"flood_tcp1:TCP 1 stream under the flood, Gbit/s"
			"flood_keep:throughput kept under the flood, %"
			"flood_nft_keep:kept with the flood dropped by nftables before any socket (the ceiling here), %"
			"flood_cpu:daemon CPU under the flood alone, % of a core"
			"flood_hs:fresh handshake during the flood, s"
			"flood_pps:flood rate achieved, packets/s"
		)
	fi
	if [[ $PEERS -eq 1 ]]; then
		rows+=(
			"rss_peer_kb:RSS per idle peer at $PEERS_N peers, KB"
			"rss_total_mb:RSS total at $PEERS_N peers, MB"
			"setconf_s:wg setconf of $PEERS_N peers, s"
			"dump_s:wg show dump at $PEERS_N peers, s"
		)
	fi
	local row key label cells ref
	for row in "${rows[@]}"; do
		key=${row%%:*} label=${row#*:}
		cells="| $label |"
		for impl in "${IMPLS[@]}"; do cells+=" $(spread "${SAMPLES[$impl:$key]:-}") |"; done
		if [[ ${IMPLS[-1]} == wireguard-go ]]; then
			ref=$(median "${SAMPLES[wireguard-go:$key]:-}")
			for impl in "${IMPLS[@]}"; do
				[[ $impl == wireguard-go ]] || cells+=" $(ratio "$(median "${SAMPLES[$impl:$key]:-}")" "$ref") |"
			done
		fi
		echo "$cells"
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

write_report ""
