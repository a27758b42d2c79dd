#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What an idle daemon with many discovered peers costs: records made up by
# bench/genrecords are put into a registry (etcd, or a peer directory), a
# wgplex daemon discovers them all, and once it has, the CPU time (utime +
# stime from /proc) of the daemon and of its discovery plugin is taken over
# 60 s in which nothing changes, as % of one core. 0, 5,000 and 50,000
# peers by default. The figures go into a section of the results file,
# replacing the one a previous run wrote.
#
#   sudo bench/idle.sh                 etcd and directory, 0 5000 50000 peers
#   sudo bench/idle.sh 5000            one size
#
# Options (environment):
#   BACKENDS="etcd dir"   registries to measure
#   WINDOW=60             seconds of idle measured
#   OUT=FILE              results file (default bench/results/<date>-discovery-mesh.md)
#
# Needs root, Go, etcd and wg. Runs everything in a namespace of its own,
# under nice.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(0 5000 50000)
BACKENDS=${BACKENDS:-"etcd dir"}
WINDOW=${WINDOW:-60}
OUT=${OUT:-bench/results/$(date -u +%F)-discovery-mesh.md}

if [[ $(id -u) -ne 0 ]]; then
	echo "idle.sh: needs root (a network namespace, a TUN device)" >&2
	exit 1
fi
for bin in etcd wg ip; do
	command -v "$bin" >/dev/null || { echo "idle.sh: $bin missing" >&2; exit 1; }
done
ulimit -n 65536 2>/dev/null || true

# shellcheck source=bench/section.sh
. bench/section.sh

TMP=$(mktemp -d /tmp/wgpx-idle-XXXXXX)
NS=wgpx-idle-$$
ETCD_PID=
DAEMON_PID=
cleanup() {
	local rc=$?
	# A stopped process's wait status is not a failure of the run.
	set +e
	if [[ -n $DAEMON_PID ]]; then kill "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; fi
	if [[ -n $ETCD_PID ]]; then kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null; fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

echo "idle.sh: building ..." >&2
go build -o "$TMP/bin/" ./cmd/wgplex ./plugins/discovery-etcd ./bench/genrecords
WGPLEX=$TMP/bin/wgplex

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

if [[ $BACKENDS == *etcd* ]]; then
	# Not through in_ns: $! must be the process itself (ip netns exec
	# execs it), not a subshell, so that it can be stopped and measured.
	ip netns exec "$NS" nice etcd --name "$NS" --data-dir "$TMP/etcd" --log-level warn \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster "$NS=http://127.0.0.1:2380" >"$TMP/etcd.log" 2>&1 &
	ETCD_PID=$!
	for _ in $(seq 100); do
		in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/2379 && printf "GET /health HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>/dev/null |
			grep -q '"health":"true"' && break
		sleep 0.2
	done
fi

# ticks PID...: utime + stime of the processes, in clock ticks (1/100 s).
ticks() {
	local sum=0 p f
	for p in "$@"; do
		# Fields after the command name, which may hold blanks.
		f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		read -r -a a <<<"$f"
		sum=$((sum + a[11] + a[12]))
	done
	echo "$sum"
}
# children PID: the direct children of PID (the discovery plugin).
children() { awk -v p="$1" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null | sort -u; }
rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
pct() { awk -v t="$1" -v s="$2" 'BEGIN { printf "%.2f", t / 100 / s * 100 }'; }

rows=()
run=0
for be in $BACKENDS; do
	for n in "${SIZES[@]}"; do
		run=$((run + 1))
		iface=wgpxi$$x$run
		case $be in
		etcd)
			prefix=/wgpx-idle-$$-$n/
			in_ns "$TMP/bin/genrecords" -n "$n" -etcd http://127.0.0.1:2379 -prefix "$prefix"
			args=(--discovery "$TMP/bin/discovery-etcd -endpoints http://127.0.0.1:2379 -prefix $prefix -ttl 30s")
			;;
		dir)
			dir=$TMP/dir-$n
			mkdir -m 0755 "$dir"
			"$TMP/bin/genrecords" -n "$n" -dir "$dir"
			args=(--discovery-dir "$dir")
			;;
		*) echo "idle.sh: unknown backend $be" >&2; exit 1 ;;
		esac
		echo "idle.sh: $be, $n peers ..." >&2
		ip netns exec "$NS" nice "$WGPLEX" -f "${args[@]}" --discovery-allow 10.0.0.0/8 "$iface" >"$TMP/daemon-$be-$n.log" 2>&1 &
		DAEMON_PID=$!
		for _ in $(seq 150); do
			[[ -S /var/run/wireguard/$iface.sock ]] && break
			sleep 0.1
		done
		in_ns ip addr add 172.31.255.1/32 dev "$iface"
		in_ns ip link set "$iface" up
		(umask 077 && wg genkey >"$TMP/key")
		t0=$(date +%s.%N)
		in_ns wg set "$iface" private-key "$TMP/key"
		got=0
		for _ in $(seq 3000); do
			got=$(in_ns wg show "$iface" peers | wc -l)
			[[ $got -ge $n ]] && break
			sleep 0.2
		done
		t1=$(date +%s.%N)
		if [[ $got -lt $n ]]; then
			echo "idle.sh: $be: only $got of $n peers after 600 s" >&2
			tail -20 "$TMP/daemon-$be-$n.log" >&2
			rows+=("| $be | $n | only $got after 600 s | | | | | |")
		else
			applied=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
			# Let the first snapshot's after-effects (garbage collection,
			# logs) pass before the window.
			sleep 5
			mapfile -t kids < <(children "$DAEMON_PID")
			load0=$(cut -d' ' -f1-3 /proc/loadavg)
			d0=$(ticks "$DAEMON_PID") p0=$(ticks "${kids[@]}") s0=$(date +%s.%N)
			sleep "$WINDOW"
			d1=$(ticks "$DAEMON_PID") p1=$(ticks "${kids[@]}") s1=$(date +%s.%N)
			secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN { print b - a }')
			dp=$(pct $((d1 - d0)) "$secs") pp=$(pct $((p1 - p0)) "$secs") tp=$(pct $((d1 - d0 + p1 - p0)) "$secs")
			prss=0
			for k in "${kids[@]}"; do prss=$((prss + $(rss "$k"))); done
			load1=$(cut -d' ' -f1-3 /proc/loadavg)
			echo "idle.sh: $be $n peers: daemon $dp%, plugin $pp%, total $tp% of a core" >&2
			rows+=("| $be | $n | $applied | $dp | $pp | **$tp** | $(($(rss "$DAEMON_PID") / 1024)) / $((prss / 1024)) | $load0 → $load1 |")
		fi
		kill "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
		DAEMON_PID=
	done
done

{
	echo "## Idle cost with many discovered peers ($(date -u '+%F %H:%M') UTC)"
	echo
	echo "\`sudo bench/idle.sh ${SIZES[*]}\` (BACKENDS=\"$BACKENDS\"): made-up records (bench/genrecords) in the"
	echo "registry, one daemon discovers them, then utime + stime of the daemon and of its discovery"
	echo "plugin process over ${WINDOW} s of nothing changing, as % of one core (USER_HZ ticks, 0.01 s)."
	echo "No peer has traffic, so no handshake runs. etcd's own cost is not counted."
	echo
	echo "Machine: $(nproc) CPUs, $(uname -sr), wgplex $(git rev-parse --short HEAD). Shared with other"
	echo "builds and tests: the figures are noisy (a busy machine mostly delays, it adds little CPU time"
	echo "to an idle process)."
	echo
	echo "| registry | peers | all applied after key set, s | daemon, % core | plugin, % core | total, % core | RSS daemon / plugin, MiB | load before → after |"
	echo "|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
} | write_section "$OUT" idle
echo "idle.sh: wrote $OUT" >&2
