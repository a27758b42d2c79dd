#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Real meshes over etcd: tests/netns TestMeshEtcdFleet at 32 and 64 nodes
# (each node a wgplex daemon with the etcd discovery plugin in a namespace
# of its own, records signed under a fleet CA). Per node it measures how
# long a new node takes to appear (join) and a SIGKILLed one to go (leave,
# bounded by the etcd lease TTL), and reports min / median / max across
# nodes. The figures go into a section of the results file, replacing the
# section a previous run wrote.
#
#   sudo bench/mesh.sh                 32 and 64 nodes
#   sudo bench/mesh.sh 16 32           other sizes
#
# Options (environment):
#   OUT=FILE   results file (default bench/results/<date>-discovery-mesh.md)
#
# Needs root, Go, etcd, wg (wireguard-tools), iperf3 and wireguard-go (the
# suite's prerequisites; scripts/test.sh installs them). Runs under nice.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(32 64)
OUT=${OUT:-bench/results/$(date -u +%F)-discovery-mesh.md}
LOGDIR=$(mktemp -d /tmp/wgpx-mesh-XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT

if [[ $(id -u) -ne 0 ]]; then
	echo "mesh.sh: needs root (network namespaces, TUN devices)" >&2
	exit 1
fi
# Every node is a daemon and a plugin: two processes, a TUN device, sockets
# and a namespace each.
ulimit -n 65536 2>/dev/null || true

# shellcheck source=bench/section.sh
. bench/section.sh

rows=()
for n in "${SIZES[@]}"; do
	log=$LOGDIR/mesh-$n.log
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "mesh.sh: $n nodes (load $load0) ..." >&2
	if ! CI=true WGPLEX_MESH_NODES=$n nice go test ./tests/netns/ -run '^TestMeshEtcdFleet$' \
		-count=1 -v -timeout 30m >"$log" 2>&1; then
		tail -50 "$log" >&2
		echo "mesh.sh: the $n-node mesh failed (log above)" >&2
		rows+=("| $n | failed: $(grep -m1 -o 'timed out.*\|saw the new node.*\|dropped the killed.*' "$log" | cut -c1-120) | | | | | | | |")
		continue
	fi
	fig=$(grep -o 'FIGURES mesh .*' "$log")
	load1=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "$fig" >&2
	# FIGURES mesh nodes=N converge(min=..ms median=..ms max=..ms missing=0) join(...) newcomer_ms=.. leave(...) ttl_s=.. poll_ms=..
	part() { sed -n "s/.*$1(min=\([0-9]*\)ms median=\([0-9]*\)ms max=\([0-9]*\)ms.*/\1 \/ \2 \/ \3/p" <<<"$fig"; }
	val() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$fig"; }
	rows+=("| $n | $(part converge) | $(part join) | $(val newcomer_ms) | $(part leave) | $(val ttl_s) s | $(val poll_ms) / $(val leave_poll_ms) ms | $(val harness_cpu_ms) / $(val nodes_cpu_ms) | $load0 → $load1 |")
done

{
	echo "## Real meshes over etcd ($(date -u '+%F %H:%M') UTC)"
	echo
	echo "\`sudo bench/mesh.sh ${SIZES[*]}\` (tests/netns TestMeshEtcdFleet with WGPLEX_MESH_NODES=N):"
	echo "one namespace per node on one bridge, one etcd, records signed under a fleet CA."
	echo "Each node's state is read with one UAPI \`get\` over its socket per look (no process started"
	echo "per look), a node is not read again once it shows what is waited for; times are from"
	echo "the moment before the key is set (join) or the SIGKILL (leave) to the end of the look"
	echo "that first showed it, so they are late by up to the poll period and one read, never early."
	echo "min / median / max across nodes."
	echo
	echo "Machine: $(nproc) CPUs, $(uname -sr), wgplex $(git rev-parse --short HEAD). Shared with other"
	echo "builds and tests: the figures are noisy."
	echo
	echo "| nodes | full mesh from the keys set, ms | join seen by each other node, ms | newcomer has all, ms | killed node gone, ms | lease TTL | poll: join / leave | CPU from join to leave, harness / all nodes, ms | load (1/5/15 min) before → after |"
	echo "|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
} | write_section "$OUT" mesh
echo "mesh.sh: wrote $OUT" >&2
