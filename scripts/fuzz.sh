#!/usr/bin/env bash
# Runs every fuzz target of the repository, one after the other, for a fixed
# time each, and fails if any of them fails.
#
#   scripts/fuzz.sh              every target for 20 s
#   scripts/fuzz.sh 5m           every target for five minutes
#   scripts/fuzz.sh 30s Parse    only the targets whose name matches Parse
#
# The targets of core/aead (hand-written AVX-512 assembly, opt-in with
# WGPLEX_AEAD=avx512) run for twice the time given.
#
# FUZZ_PARALLEL sets the number of fuzzing workers per target (default 1, so
# that the run takes one CPU and leaves the rest to whatever runs beside it).
# FUZZ_JOBS sets how many targets are fuzzed at once (default 1).
# The targets are found by looking for `func FuzzXxx` in the test files that
# build on this system, so a new target is fuzzed without touching this
# script. A failing input is left
# in the package's testdata/fuzz/FuzzXxx/ by `go test`: commit it as a
# regression seed once the bug (or the oracle) is fixed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

fuzztime=${1:-20s}
filter=${2:-}
parallel=${FUZZ_PARALLEL:-1}

# "package-dir target" lines, sorted so that runs are comparable. go list
# names the test files that build on this system (a target behind a build
# tag for another OS is left out) without compiling anything; the nested
# interop module is not part of ./... and has no fuzz targets of its own.
mapfile -t targets < <(
	go list -f '{{$d := .Dir}}{{range .TestGoFiles}}{{$d}}/{{.}}
{{end}}{{range .XTestGoFiles}}{{$d}}/{{.}}
{{end}}' ./... |
		grep -v '^$' |
		xargs grep -HEo '^func Fuzz[A-Za-z0-9_]+' |
		sed -E "s#^$PWD/(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\$#./\1 \2#" |
		sort -u
)
if ((${#targets[@]} == 0)); then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

# twice DURATION: a Go duration of whole seconds or minutes (20s, 5m)
# doubled; anything else unchanged.
twice() {
	case $1 in
	*[0-9]s) [[ ${1%s} =~ ^[0-9]+$ ]] && echo "$((${1%s} * 2))s" || echo "$1" ;;
	*[0-9]m) [[ ${1%m} =~ ^[0-9]+$ ]] && echo "$((${1%m} * 2))m" || echo "$1" ;;
	*) echo "$1" ;;
	esac
}

# run_one "DIR NAME": fuzz one target; prints one result line ("ok ..." or
# "FAIL ...") and, on failure, the end of go test's output on stderr.
run_one() {
	local t=$1 dir name start log note ok ft
	read -r dir name <<<"$t"
	start=$SECONDS
	log=$(mktemp)
	# -run '^$' skips the unit tests (the package's normal test run covers
	# them); the seed corpus of the target still runs first.
	note=""
	ok=0
	# The AVX-512 AEAD is hand-written assembly on the data path of
	# whoever turns it on: its targets get twice the time.
	ft=$fuzztime
	if [[ $dir == ./core/aead ]]; then
		ft=$(twice "$fuzztime")
	fi
	for _ in 1 2; do
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$ft" -parallel "$parallel" "$dir" >"$log" 2>&1; then
			ok=1
			break
		fi
		# The go command sometimes ends a fuzzing run that found nothing
		# with "context deadline exceeded" when -fuzztime runs out while a
		# worker is still busy (seen on a loaded 2-vCPU machine). A real
		# finding always writes its input ("Failing input written to");
		# anything else fails at once. Such a run is repeated once, and
		# the result says so.
		if grep -q 'Failing input written to' "$log" || ! grep -q 'context deadline exceeded' "$log"; then
			break
		fi
		note=", repeated after a deadline at the end of -fuzztime"
	done
	if ((ok)); then
		echo "ok    $name ($dir, $((SECONDS - start)) s$note)"
	else
		echo "FAIL  $name ($dir, $((SECONDS - start)) s)"
		echo "--- $name failed:" >&2
		tail -n 40 "$log" >&2
	fi
	rm -f "$log"
}

# run_lane OUT TARGET...: the targets one after the other, their result
# lines into OUT.
run_lane() {
	local out=$1 t
	shift
	for t in "$@"; do
		run_one "$t" >>"$out"
	done
}

selected=()
for t in "${targets[@]}"; do
	read -r _ name <<<"$t"
	[[ -n "$filter" && ! "$name" =~ $filter ]] && continue
	selected+=("$t")
done

# FUZZ_JOBS lanes of targets run side by side (default 1). The first
# target runs alone, because it compiles the instrumented standard library
# that every later target reuses: two go commands starting together would
# both compile it. The rest is cut into contiguous runs of the sorted list,
# so that the targets of one package, and the plugin packages that share
# the gRPC stack, stay in one lane and are compiled once.
jobs=${FUZZ_JOBS:-1}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_JOBS must be a positive integer" >&2; exit 2; }
lanes=$(mktemp -d)
trap 'rm -rf "$lanes"' EXIT
start_all=$SECONDS
if ((${#selected[@]} > 0)); then
	run_lane "$lanes/0" "${selected[0]}"
	rest=("${selected[@]:1}")
	per=$(((${#rest[@]} + jobs - 1) / jobs))
	pids=()
	for ((j = 0; j < jobs && j * per < ${#rest[@]}; j++)); do
		run_lane "$lanes/$((j + 1))" "${rest[@]:j*per:per}" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
fi
results=()
failed=0
# The lanes' lines in lane order: the targets' sorted order.
for ((j = 0; j <= jobs; j++)); do
	[[ -f $lanes/$j ]] && mapfile -t -O "${#results[@]}" results <"$lanes/$j"
done
for r in "${results[@]}"; do
	[[ $r == FAIL* ]] && failed=1
done

echo "fuzz.sh: ${#results[@]} targets, $fuzztime each, $((SECONDS - start_all)) s in all"
printf '  %s\n' "${results[@]}"
exit "$failed"
