#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What a large configuration change does to traffic: ping through the bench
# pair (bench/netns-pair.sh, wgplex at both ends) every 10 ms while B's
# daemon takes `wg addconf` of N peers, and report the change's duration
# and the pings' p50, p99 and maximum. Each variant is wgplex with one
# extra environment setting, run alternately, ROUNDS rounds.
#
#   sudo bench/config-stall.sh [-n PEERS] [-r ROUNDS] [--scrape] [VAR=VALUE|default ...]
#   sudo bench/config-stall.sh -n 100000 default GOMAXPROCS=2
#
# --scrape: B's daemon gets the N peers before the pings start, and what
# the pings ride through is one scrape of its /metrics (curl) instead.
#
# Needs root, Go, wg and ping (and curl for --scrape).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PEERS=100000
ROUNDS=3
VARIANTS=()
SCRAPE=0
while [[ $# -gt 0 ]]; do
	case $1 in
	-n) PEERS=$2; shift ;;
	-r) ROUNDS=$2; shift ;;
	--scrape) SCRAPE=1 ;;
	default | [A-Za-z_]*=*) VARIANTS+=("$1") ;;
	*) echo "usage: $0 [-n PEERS] [-r ROUNDS] [VAR=VALUE|default ...]" >&2; exit 2 ;;
	esac
	shift
done
((${#VARIANTS[@]})) || VARIANTS=(default GOMAXPROCS=2)
[[ $(id -u) -eq 0 ]] || { echo "needs root (network namespaces)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck source=bench/netns-pair.sh
source bench/netns-pair.sh
WORK=$(mktemp -d)
trap 'pair_down; rm -rf "$WORK"' EXIT
go build -o "$WORK/wgplex" ./cmd/wgplex
go run ./bench/genpeers -n "$PEERS" -o "$WORK/all.conf"
# Peers only: the interface's key must stay the one the tunnel uses.
awk '/^\[Peer\]/ { p = 1 } p' "$WORK/all.conf" >"$WORK/peers.conf"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg); $PEERS peers per change"
for ((r = 1; r <= ROUNDS; r++)); do
	for v in "${VARIANTS[@]}"; do
		env_v=()
		[[ $v != default ]] && env_v=("$v")
		((SCRAPE)) && env_v+=(WGPLEX_METRICS_LISTEN=9586)
		(
			((${#env_v[@]} == 0)) || export "${env_v[@]}"
			pair_up "$WORK/wgplex" "$WORK/wgplex" >/dev/null
		)
		((SCRAPE)) && ip netns exec "$NS_B" wg addconf "${IF}b" "$WORK/peers.conf"
		ip netns exec "$NS_A" ping -n -i 0.01 -c 400 10.232.0.2 >"$WORK/ping.txt" &
		pp=$!
		sleep 1 # pings before the change, so the change falls inside the window
		t0=$(date +%s.%N)
		if ((SCRAPE)); then
			ip netns exec "$NS_B" curl -sf -o /dev/null http://127.0.0.1:9586/metrics
		else
			ip netns exec "$NS_B" wg addconf "${IF}b" "$WORK/peers.conf"
		fi
		t1=$(date +%s.%N)
		wait "$pp" || true
		read -r p50 p99 <<<"$(ping_p50_p99 <"$WORK/ping.txt")"
		answered=$(grep -c 'time=' "$WORK/ping.txt" || true)
		worst=$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' "$WORK/ping.txt" | sort -g | tail -1)
		echo "round $r $v: change $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s; $answered pings, p50 $p50 ms, p99 $p99 ms, max ${worst:-nan} ms"
		pair_down
	done
done
