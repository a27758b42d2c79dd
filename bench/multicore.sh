#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Throughput and CPU per byte against the number of cores, wgplex vs
# wireguard-go, for a machine bigger than a laptop. Two steps, so that the
# machine that measures needs no network:
#
#   bench/multicore.sh build [DIR]     here, with network: static wgplex,
#                                      wireguard-go and bench/benchtool
#                                      binaries, plus iperf3, wg, jq, ip,
#                                      ping, taskset and perf with their
#                                      shared libraries, in DIR (default
#                                      bench/multicore-bundle)
#   sudo bench/multicore.sh run [options]   there: the measurement
#
# The bundle is about 70 MB, 40 MB of it without perf and the libraries
# perf pulls in; where a transfer is limited, carry it as a tar.xz (18 MB).
# Copy the checkout with DIR to the big machine (same CPU architecture; the
# bundled tools need a glibc at least as new as the build machine's,
# tools already installed there are used first), then run it.
#
# Each daemon of the two-namespace pair (bench/netns-pair.sh) is started under
# taskset with C cores, C in --cores. The Go runtime sizes GOMAXPROCS, and
# wgplex its crypto mode, from that affinity. When the machine has at least
# 2C+2 cores the two daemons get disjoint sets (A: 0..C-1, B: C..2C-1) and the
# iperf3 ends the rest; otherwise both daemons share cores 0..C-1 and iperf3
# gets whatever remains (or shares too, on a machine with C cores or fewer;
# the report says which). Core counts above the machine's are skipped.
#
# Options of run:
#   --bin DIR          bundle directory (default bench/multicore-bundle)
#   --cores "C..."     core counts (default "1 2 4 8 16")
#   --flows "F..."     TCP streams per test (default "1 8")
#   -r, --rounds N     rounds of wgplex, wireguard-go alternating (default 3)
#   -t, --time S       seconds per iperf3 test (default 10)
#   -o, --out FILE     results file (default bench/results/<date>-multicore.md)
#   --profile C        in the last round at C cores per daemon, record a
#                      whole-machine perf profile during each daemon's test
#                      with the most flows (needs perf, bundled when the
#                      build machine has it); summaries beside the results
#                      file, FILE-perf-IMPL.txt
#   --stages "C..."    after the rounds, one more wgplex test with the most
#                      flows at each C cores per daemon, both daemons
#                      writing a Go CPU profile (--cpu-profile): CPU per
#                      data-path stage, to tell whether one goroutine (the
#                      device reader, a socket receiver) is the serial
#                      limit. The profiles go beside the results file
#                      (FILE-stages-cC-a.pprof, -b.pprof) with a summary
#                      when Go is installed; elsewhere summarise them with
#                      bench/stages.sh --report -t S FILES
#   --flood PPS        after the TCP tests of each core count, one stream
#                      again under a flood of PPS valid-MAC1 handshake
#                      initiations (bench/benchtool flood) from a third
#                      namespace on iperf3's cores: throughput kept, % of
#                      the same pair's one-stream test just before
#
# F flows are F iperf3 processes of one stream each (ports 5201 on), not
# one process with -P F: iperf3 before 3.16 drives all of a process's
# streams from one thread, which would cap the test instead of the tunnel.
#
# Environment variables (WGPLEX_AEAD, WGPLEX_CRYPTO, ...) reach the daemons.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
WIREGUARD_GO_VERSION=v0.0.0-20260522210424-ecfc5a8d5446

bundle_tool() { # NAME DIR: the tool and its libraries other than glibc's own
	local bin lib
	bin=$(command -v "$1") || { echo "build: $1 not installed here; the run machine must have it" >&2; return 0; }
	cp -L "$bin" "$2/bin/"
	ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
		case $(basename "$lib") in
		libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | ld-linux*) ;;
		*) cp -L "$lib" "$2/lib/" ;;
		esac
	done
}

if [[ ${1:-} == build ]]; then
	DIR=${2:-bench/multicore-bundle}
	mkdir -p "$DIR/bin" "$DIR/lib"
	echo "==> wgplex"
	CGO_ENABLED=0 go build -trimpath -ldflags=-w -o "$DIR/bin/wgplex" ./cmd/wgplex
	echo "==> wireguard-go $WIREGUARD_GO_VERSION"
	echo "==> benchtool"
	CGO_ENABLED=0 go build -trimpath -ldflags=-w -o "$DIR/bin/benchtool" ./bench/benchtool
	GOBIN=$(cd "$DIR/bin" && pwd) CGO_ENABLED=0 go install -trimpath -ldflags=-w "golang.zx2c4.com/wireguard@$WIREGUARD_GO_VERSION"
	for t in iperf3 wg jq ip ping taskset perf; do bundle_tool "$t" "$DIR"; done
	echo "$WIREGUARD_GO_VERSION" >"$DIR/wireguard-go.version"
	git rev-parse --short HEAD >"$DIR/wgplex.version" 2>/dev/null || echo '?' >"$DIR/wgplex.version"
	echo "bundle in $DIR: $(cd "$DIR/bin" && printf '%s ' *)"
	exit 0
fi
[[ ${1:-} == run ]] && shift

DIR=bench/multicore-bundle
CORES="1 2 4 8 16"
FLOWS="1 8"
ROUNDS=3
SECS=10
OUT=
PROFILE=
STAGES=
FLOOD_PPS=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--bin) DIR=$2; shift ;;
	--cores) CORES=$2; shift ;;
	--flows) FLOWS=$2; shift ;;
	-r | --rounds) ROUNDS=$2; shift ;;
	-t | --time) SECS=$2; shift ;;
	-o | --out) OUT=$2; shift ;;
	--profile) PROFILE=$2; shift ;;
	--stages) STAGES=$2; shift ;;
	--flood) FLOOD_PPS=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [[ $(id -u) -ne 0 ]]; then
	echo "bench/multicore.sh run needs root (network namespaces, TUN devices)" >&2
	exit 1
fi
[[ -x $DIR/bin/wgplex && -x $DIR/bin/wireguard ]] ||
	{ echo "no bundle in $DIR: run bench/multicore.sh build first" >&2; exit 1; }
DIR=$(cd "$DIR" && pwd)

umask 077
WORK=$(mktemp -d /tmp/wgpx-mc.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# Tools installed on this machine win; the bundled ones fill the gaps, each
# through a wrapper that points it (and it alone) at the bundled libraries:
# a global LD_LIBRARY_PATH would hand an installed jq 1.7 the bundle's
# libjq 1.6, which fails, and every iperf3 result would read as zero.
mkdir -p "$WORK/bin"
for t in iperf3 wg jq ip taskset ping perf; do
	command -v "$t" >/dev/null && continue
	if [[ ! -x $DIR/bin/$t ]]; then
		[[ $t == perf ]] && continue
		echo "missing $t (neither installed nor in the bundle)" >&2
		exit 1
	fi
	wrapper "$WORK/bin/$t" env "LD_LIBRARY_PATH=$DIR/lib" "$DIR/bin/$t"
done
PATH=$PATH:$WORK/bin
if ! jq -n 1 >/dev/null || ! iperf3 --version >/dev/null; then
	echo "the jq or iperf3 found does not run here" >&2
	exit 1
fi
if [[ -n $PROFILE ]] && ! perf --version >/dev/null 2>&1; then
	echo "--profile: no perf that runs here; profiles skipped" >&2
	PROFILE=
fi
MAXF=0
for f in $FLOWS; do ((f > MAXF)) && MAXF=$f; done
if ((FLOOD_PPS > 0)) && [[ " $FLOWS " != *" 1 "* ]]; then
	echo "--flood compares with the one-stream test: --flows must include 1" >&2
	exit 2
fi
NS_A=wgpxm-a-$$ NS_B=wgpxm-b-$$ IF=wgpm$$
# shellcheck source=bench/netns-pair.sh
source "$ROOT/bench/netns-pair.sh"
# shellcheck source=bench/flood.sh
source "$ROOT/bench/flood.sh"
NS_F=wgpxm-f-$$
BENCHTOOL=$DIR/bin/benchtool
if ((FLOOD_PPS > 0)) && [[ ! -x $BENCHTOOL ]]; then
	echo "--flood: no benchtool in $DIR (rebuild the bundle)" >&2
	exit 1
fi
trap 'set +e; flood_down; pair_down >/dev/null 2>&1; rm -rf "$WORK"' EXIT
# The profiles are written beside the results file, so its name is known
# from the start.
[[ -z $OUT ]] && OUT=$(results_path -multicore)

NPROC=$(nproc)
IMPLS=(wgplex wireguard-go)
impl_bin() { if [[ $1 == wgplex ]]; then echo "$DIR/bin/wgplex"; else echo "$DIR/bin/wireguard"; fi; }

# placement C: "cpusA cpusB cpusIperf" (cpusIperf empty = not pinned).
placement() {
	local c=$1
	if ((NPROC >= 2 * c + 2)); then
		echo "0-$((c - 1)) $c-$((2 * c - 1)) $((2 * c))-$((NPROC - 1))"
	elif ((NPROC > c)); then
		echo "0-$((c - 1)) 0-$((c - 1)) $c-$((NPROC - 1))"
	else
		echo "0-$((c - 1)) 0-$((c - 1))"
	fi
}


declare -A SAMPLES
add() { SAMPLES[$1:$2]+="$3 "; echo "    $1 $2 = $3"; }

# wait_clients PID...: waits for the iperf3 clients, with a deadline of the
# test's length plus 20 s.
wait_clients() {
	wait_gone $((SECS + 20)) "$@" || kill "$@" 2>/dev/null || true
}

# perf_summary IMPL: the whole machine's profile of the test just run, by
# command (thread name) and by symbol, into FILE-perf-IMPL.txt.
perf_summary() {
	local f=${OUT%.md}-perf-$1.txt
	{
		echo "# perf record -a -g -F 499 during $1's $MAXF-flow test, $PROFILE cores per daemon"
		echo
		echo "## by command and process"
		perf report -i "$WORK/perf-$1.data" --no-children --sort comm,pid -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -20
		echo
		echo "## by command and symbol"
		perf report -i "$WORK/perf-$1.data" --no-children --sort comm,dso,sym -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -60
	} >"$f" || true
	rm -f "$WORK/perf-$1.data"
}

# tcp_test F: F one-stream iperf3 clients in A for $SECS s against the
# servers in B; sets GBPS (their sum, Gbit/s), BYTES (received) and TICKS
# (both daemons' CPU over the test). Uses measure's daemons and pin.
tcp_test() {
	local f=$1 i t0 cpids=() files=() bits
	t0=$(cpu_ticks "${daemons[@]}")
	for ((i = 0; i < f; i++)); do
		files+=("$WORK/iperf-$i.json")
		ip netns exec "$NS_A" "${pin[@]}" iperf3 -c 10.232.0.2 -p $((5201 + i)) -t "$SECS" -J >"${files[i]}" 2>/dev/null &
		cpids+=($!)
	done
	wait_clients "${cpids[@]}"
	TICKS=$(($(cpu_ticks "${daemons[@]}") - t0))
	# A client without a result makes the whole test read 0: a sum over
	# fewer flows than asked for would pass for the tunnel's figure.
	read -r bits BYTES < <(jq -rs --argjson n "$f" 'map(.end.sum_received) |
		if length != $n or any(.[]; . == null) then "0 0"
		else "\(map(.bits_per_second) | add) \(map(.bytes) | add)" end' "${files[@]}" 2>/dev/null || echo "0 0")
	((BYTES > 0)) || echo "    (no iperf3 result: $(head -c 300 "${files[0]}" 2>/dev/null | tr '\n' ' '))" >&2
	GBPS=$(awk -v b="$bits" 'BEGIN { printf "%.3f", b / 1e9 }')
}

# start_pair IMPL C [ENV_A [ENV_B]]: the pair with IMPL's daemons at C
# cores each (placement), daemon A with the environment setting ENV_A
# (VAR=VALUE) and B with ENV_B when given, and MAXF iperf3 servers in B.
# Sets the caller's daemons, pin and ci, which it declares local (bash's
# dynamic scope).
start_pair() {
	local impl=$1 c=$2 bin ca cb i
	local -a env_a=() env_b=()
	[[ -n ${3:-} ]] && env_a=(env "$3")
	[[ -n ${4:-} ]] && env_b=(env "$4")
	bin=$(impl_bin "$impl")
	read -r ca cb ci <<<"$(placement "$c")"
	wrapper "$WORK/run-a" "${env_a[@]}" taskset -c "$ca" "$bin"
	wrapper "$WORK/run-b" "${env_b[@]}" taskset -c "$cb" "$bin"
	echo "    A on $ca, B on $cb, iperf3 on ${ci:-any core}"
	pair_up "$WORK/run-a" "$WORK/run-b"
	mapfile -t daemons < <(daemon_pids "$NS_A" "$bin"; daemon_pids "$NS_B" "$bin")
	((${#daemons[@]} == 2)) || { echo "expected 2 daemons, found ${#daemons[@]}" >&2; exit 1; }
	pin=()
	[[ -n $ci ]] && pin=(taskset -c "$ci")
	for ((i = 0; i < MAXF; i++)); do
		ip netns exec "$NS_B" "${pin[@]}" iperf3 -s -p $((5201 + i)) >/dev/null 2>&1 &
	done
	sleep 0.5
}

measure() { # IMPL C
	local impl=$1 c=$2 ci f
	local -a daemons pin
	echo "==> round $round: $impl, $c core(s) per daemon"
	start_pair "$impl" "$c"
	local f1gbps=
	for f in $FLOWS; do
		local perfpid=
		if [[ -n $PROFILE && $c == "$PROFILE" && $round == "$ROUNDS" && $f == "$MAXF" ]]; then
			perf record -a -g -F 499 -o "$WORK/perf-$impl.data" -- sleep "$SECS" >/dev/null 2>&1 &
			perfpid=$!
		fi
		tcp_test "$f"
		[[ -n $perfpid ]] && { wait "$perfpid" || true; perf_summary "$impl"; }
		add "$impl" "c${c}f${f}_gbps" "$GBPS"
		add "$impl" "c${c}f${f}_nspb" "$(ns_per "$TICKS" "$BYTES")"
		add "$impl" "c${c}f${f}_busy" "$(awk -v t="$TICKS" -v hz="$CLK_TCK" -v s="$SECS" 'BEGIN { printf "%.2f\n", t / hz / s }')"
		[[ $f == 1 ]] && f1gbps=$GBPS
	done
	if ((FLOOD_PPS > 0)) && [[ -n $f1gbps ]]; then
		# One stream again with the flood on, its sender on iperf3's cores.
		FLOOD_PIN=()
		[[ -n $ci ]] && FLOOD_PIN=(taskset -c "$ci")
		flood_ns_up
		flood_start $((SECS + 5))
		tcp_test 1
		flood_down
		add "$impl" "c${c}flood_gbps" "$GBPS"
		add "$impl" "c${c}flood_pps" "$(flood_pps)"
		add "$impl" "c${c}flood_keep" "$(percent "$GBPS" "$f1gbps")"
	fi
	pair_down
}

LOAD0=$(uptime | sed 's/.*load average: //')
RUN_CORES=()
for c in $CORES; do
	if ((c > NPROC)); then
		echo "==> skipping $c cores: this machine has $NPROC"
		continue
	fi
	RUN_CORES+=("$c")
done
for c in "${RUN_CORES[@]}"; do
	for round in $(seq 1 "$ROUNDS"); do
		for impl in "${IMPLS[@]}"; do measure "$impl" "$c"; done
	done
done

# stages_run C: wgplex at C cores per daemon, both daemons writing a CPU
# profile, one test with the most flows; the profiles are complete once
# the daemons have stopped, so they are stopped here (SIGTERM, then a
# wait) before the namespaces go.
stages_run() {
	local c=$1 ci base
	local -a daemons pin
	base=${OUT%.md}-stages-c$c
	rm -f "$base-a.pprof" "$base-b.pprof" "$base.txt"
	echo "==> stages: wgplex, $c core(s) per daemon, $MAXF flow(s), CPU profiles"
	start_pair wgplex "$c" "WGPLEX_CPU_PROFILE=$base-a.pprof" "WGPLEX_CPU_PROFILE=$base-b.pprof"
	tcp_test "$MAXF"
	add wgplex "stages_c${c}_gbps" "$GBPS"
	add wgplex "stages_c${c}_busy" "$(awk -v t="$TICKS" -v hz="$CLK_TCK" -v s="$SECS" 'BEGIN { printf "%.2f\n", t / hz / s }')"
	kill -TERM "${daemons[@]}"
	wait_gone 15 "${daemons[@]}" || echo "    a daemon did not stop within 15 s: its profile may be cut short" >&2
	pair_down
	chmod 644 "$base-a.pprof" "$base-b.pprof" 2>/dev/null || true
	if command -v go >/dev/null; then
		"$ROOT/bench/stages.sh" --report -t "$SECS" "$base-a.pprof" "$base-b.pprof" >"$base.txt" || true
	fi
}

report() {
	echo "# Cores: wgplex vs wireguard-go, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(hostname), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $NPROC cores, Linux $(uname -r)."
	echo "Load (uptime) at the start: $LOAD0; at the end: $(uptime | sed 's/.*load average: //')." \
		"A load above $NPROC means other work shared the cores: compare within one run, not across runs."
	echo "wgplex $(cat "$DIR/wgplex.version" 2>/dev/null || echo '?'); wireguard-go $(cat "$DIR/wireguard-go.version" 2>/dev/null || echo '?')."
	echo "$ROUNDS round(s) alternating wgplex, wireguard-go; ${SECS} s per iperf3 test; TCP through the two-namespace tunnel."
	echo "CPU = both daemons' user+system time over the transfer / bytes received; busy = that time / the test's seconds (cores kept busy)."
	echo "Placement (cores per daemon: A, B, iperf3):"
	local c
	for c in "${RUN_CORES[@]}"; do echo "- $c: $(placement "$c" | awk '{printf "A %s, B %s, iperf3 %s", $1, $2, ($3 == "" ? "unpinned" : $3)}')"; done
	local envs
	envs=$(env | grep '^WGPLEX_' | sort | tr '\n' ' ' || true)
	[[ -n $envs ]] && echo "Environment: $envs"
	echo
	echo "| cores per daemon | flows | wgplex Gbit/s | wireguard-go Gbit/s | ratio | wgplex CPU ns/byte | wireguard-go CPU ns/byte | ratio | wgplex cores busy | wireguard-go cores busy |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	local f k a b
	for c in "${RUN_CORES[@]}"; do
		for f in $FLOWS; do
			local row="| $c | $f |"
			for k in gbps nspb; do
				a=${SAMPLES[wgplex:c${c}f${f}_$k]:-}
				b=${SAMPLES[wireguard-go:c${c}f${f}_$k]:-}
				row+=" $(spread "$a") | $(spread "$b") | $(ratio "$(median "$a")" "$(median "$b")") |"
			done
			row+=" $(spread "${SAMPLES[wgplex:c${c}f${f}_busy]:-}") | $(spread "${SAMPLES[wireguard-go:c${c}f${f}_busy]:-}") |"
			echo "$row"
		done
	done
	if ((FLOOD_PPS > 0)); then
		echo
		echo "Under a flood of $FLOOD_PPS valid-MAC1 initiations a second (one stream; kept = % of the same pair's one-stream test just before it):"
		echo
		echo "| cores per daemon | wgplex Gbit/s | wgplex kept, % | wireguard-go Gbit/s | wireguard-go kept, % | flood sent, pps (wgplex / wireguard-go rounds) |"
		echo "|---|---|---|---|---|---|"
		for c in "${RUN_CORES[@]}"; do
			echo "| $c | $(spread "${SAMPLES[wgplex:c${c}flood_gbps]:-}") | $(spread "${SAMPLES[wgplex:c${c}flood_keep]:-}") |" \
				"$(spread "${SAMPLES[wireguard-go:c${c}flood_gbps]:-}") | $(spread "${SAMPLES[wireguard-go:c${c}flood_keep]:-}") |" \
				"$(median "${SAMPLES[wgplex:c${c}flood_pps]:-}") / $(median "${SAMPLES[wireguard-go:c${c}flood_pps]:-}") |"
		done
	fi
	if [[ -n $STAGES ]]; then
		echo
		echo "CPU per data-path stage (wgplex, $MAXF flows, Go CPU profiles of both daemons): ${OUT%.md}-stages-cC.txt where Go was installed;" \
			"otherwise \`bench/stages.sh --report -t $SECS FILE-stages-cC-a.pprof FILE-stages-cC-b.pprof\`."
		local f
		for f in "${OUT%.md}"-stages-c*.txt; do
			[[ -s $f ]] || continue
			echo
			echo "$(basename "$f"):"
			echo
			cat "$f"
		done
	fi
	echo
	print_samples
}
write_report "-multicore"
# The stage profiles come after the report of the rounds is on disk, so
# that a failure here costs only them; the report is then written again
# with their summaries.
if [[ -n $STAGES ]]; then
	for c in $STAGES; do
		((c <= NPROC)) || { echo "==> stages: skipping $c cores: this machine has $NPROC"; continue; }
		stages_run "$c"
	done
	write_report "-multicore"
fi
