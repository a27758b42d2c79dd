#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Helpers shared by the bench scripts (sourced, not run): starting,
# finding and stopping a daemon's processes, reading their CPU time, and
# summarising samples.

CLK_TCK=$(getconf CLK_TCK)

# wrapper FILE CMD...: an executable script FILE that execs CMD with its
# own arguments appended (a bundled tool with its libraries, a daemon
# under taskset or with an environment of its own), for what takes one
# program's path (pair_up, ip netns exec).
wrapper() {
	local f=$1
	shift
	{
		echo '#!/bin/sh'
		printf 'exec'
		printf ' %q' "$@"
		printf ' "$@"\n'
	} >"$f"
	chmod 755 "$f"
}

# wait_gone SECS PID...: waits up to SECS seconds for the processes to
# exit; returns 1 if one is still there then.
wait_gone() {
	local deadline=$((SECONDS + $1)) p
	shift
	for p in "$@"; do
		while kill -0 "$p" 2>/dev/null; do
			((SECONDS < deadline)) || return 1
			sleep 0.1
		done
	done
}

# sleep_until T: sleeps until the wall-clock time T (seconds since the
# epoch, fractions allowed); returns at once if it has passed. Exported,
# so that a child bash (ip netns exec NS bash -c ...) can call it.
sleep_until() {
	sleep "$(awk -v t="$1" -v now="$(date +%s.%N)" 'BEGIN { d = t - now; print (d > 0 ? d : 0) }')"
}
export -f sleep_until

# daemon_pids NS BIN: the processes in network namespace NS running BIN. The
# daemons fork into the background, so the pid a script started is not theirs.
daemon_pids() {
	local p exe
	exe=$(readlink -f "$2")
	for p in $(ip netns pids "$1" 2>/dev/null); do
		[[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$exe" ]] && echo "$p"
	done
	return 0
}

# cpu_ticks PID...: user+system clock ticks of the processes, all threads
# together. Fields 14 and 15 of /proc/PID/stat, counted after the ")" that
# ends the command name (which may hold spaces). A process that has gone
# counts 0.
cpu_ticks() {
	local p sum=0 t
	for p in "$@"; do
		t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# cpu_ns PID...: nanoseconds of CPU every live thread of the processes has
# run, from schedstat (nanoseconds, where /proc/PID/stat counts 10 ms ticks:
# what a few hundred pings cost needs the finer count). A process or
# thread that has gone counts 0, so a thread that exits between two
# readings takes its time with it; cpu_ticks, which /proc/PID/stat keeps
# for exited threads too, stays the measure for the long transfers.
cpu_ns() {
	local p f v total=0
	for p in "$@"; do
		for f in /proc/"$p"/task/*/schedstat; do
			read -r v _ <"$f" 2>/dev/null || continue
			total=$((total + v))
		done
	done
	echo "$total"
}

# ns_per TICKS N: nanoseconds of CPU per unit when TICKS clock ticks were
# spent on N units; "-" when N is not positive.
ns_per() {
	awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN {
		if (n + 0 <= 0) print "-"; else printf "%.3g\n", t * 1e9 / hz / n }'
}

# ping_p50_p99: reads ping(8)'s output, prints "p50 p99" of the round-trip
# times in ms ("nan nan" when no reply came).
ping_p50_p99() {
	sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g |
		awk '{v[NR]=$1} END {
			if (NR == 0) { print "nan nan"; exit }
			i50 = int(NR*0.50 + 0.5); if (i50 < 1) i50 = 1
			i99 = int(NR*0.99 + 0.5); if (i99 < 1) i99 = 1; if (i99 > NR) i99 = NR
			print v[i50], v[i99] }'
}

# median "V V V": the median of the numbers, "-" entries skipped; "-" if none.
median() {
	# shellcheck disable=SC2086
	printf '%s\n' $1 | grep -v '^-$' | sort -g | awk 'NF {v[++n]=$1} END {
		if (n == 0) { print "-"; exit }
		if (n % 2) print v[(n+1)/2]; else printf "%.4g\n", (v[n/2]+v[n/2+1])/2 }'
}

# spread "V V V": "median (min-max)", or the one value, or "-".
spread() {
	# shellcheck disable=SC2086
	printf '%s\n' $1 | grep -v '^-$' | sort -g | awk 'NF {v[++n]=$1} END {
		if (n == 0) { print "-"; exit }
		m = (n % 2) ? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2
		if (n == 1) printf "%.4g\n", m; else printf "%.4g (%.4g-%.4g)\n", m, v[1], v[n] }'
}

# ratio A B: A/B to two decimals, "-" when either is missing or B is 0.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || b+0 == 0) print "-"; else printf "%.2f\n", a/b }'
}

# percent A B: A as a percentage of B to one decimal, "-" when B is not
# positive (kept-under-flood figures).
percent() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f\n", 100 * a / b; else print "-" }'
}

# jain "X X X": Jain's fairness index of the values, (sum x)^2 / (n sum x^2):
# 1 when all are equal, 1/n when one gets everything.
jain() {
	# shellcheck disable=SC2086
	printf '%s\n' $1 | awk 'NF {s += $1; q += $1 * $1; n++} END {
		if (n == 0 || q == 0) print "-"; else printf "%.3f\n", s * s / (n * q) }'
}

# print_samples lists every entry of the associative array SAMPLES
# ("impl:key" -> samples), sorted, as the raw data under a report.
print_samples() {
	echo "Samples (in run order):"
	echo
	local k
	for k in "${!SAMPLES[@]}"; do echo "- ${k/:/ }: ${SAMPLES[$k]}"; done | sort
}

# results_path SUFFIX: the default results file, bench/results/DATE$SUFFIX.md.
results_path() {
	echo "$ROOT/bench/results/$(date -u +%Y-%m-%d-%H%M%S)$1.md"
}

# write_report runs the caller's report function into $OUT (default
# results_path $1), echoing it too, and says where it went.
write_report() {
	mkdir -p "$ROOT/bench/results"
	[[ -z $OUT ]] && OUT=$(results_path "$1")
	report | tee "$OUT"
	chmod 644 "$OUT"
	echo
	echo "written to $OUT"
}
