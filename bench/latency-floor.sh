#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# How much of a userspace tunnel's ping latency any design of its shape
# pays: ping between two network namespaces over the bare veth, through
# `benchtool forward` (TUN to UDP and back, no crypto, no protocol, one
# goroutine per direction blocked in Go's network poller), through wgplex
# and through wireguard-go, alternating, ROUNDS rounds, PINGS pings 10 ms
# apart each. Prints the median (min-max) of each round's p50 and p99.
#
#   sudo bench/latency-floor.sh [-r ROUNDS] [-p PINGS] [-i SECONDS] [--wgplex BIN]
#                               [--wgplex2 BIN] [--wireguard-go BIN]
#                               [--env2 VAR=VALUE ...] [--fenv2 VAR=VALUE ...]
#
# --wgplex2 BIN measures a second wgplex build ("wgplex2") in the same
# rounds, e.g. a change against the commit before it.
# --env2 VAR=VALUE adds wgplex with that setting as one more path
# ("wgplex+VALUE"), measured in the same rounds; --fenv2 does the same for
# the forwarder ("forward+VALUE"), e.g. --fenv2 FWD_STEPS=timers (see
# bench/benchtool/fwdsteps_linux.go). -i is the ping interval (0.01).
#
# Besides the latency it reports the CPU time both ends of the tunnel
# spent per ping (every thread's schedstat, in ns, over the pinging): at
# 10 ms between pings every hop starts cold, and what a hop costs then is
# most of what separates the paths.
#
# Needs root, Go, wg (wireguard-tools), ping and a wireguard-go binary
# (default: `wireguard` on PATH or in GOPATH/bin; scripts/test.sh installs
# it).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ROUNDS=3 PINGS=500 WGPLEX_BIN='' WGPLEX2_BIN='' WGGO_BIN='' INTERVAL=0.01
ENV2=() FENV2=()
while (($#)); do
	case $1 in
	-r) ROUNDS=$2; shift ;;
	-p) PINGS=$2; shift ;;
	--wgplex) WGPLEX_BIN=$2; shift ;;
	--wgplex2) WGPLEX2_BIN=$2; shift ;;
	--wireguard-go) WGGO_BIN=$2; shift ;;
	-i) INTERVAL=$2; shift ;;
	--env2)
		[[ $2 == [A-Za-z_]*=* ]] || { echo "--env2 wants VAR=VALUE, got $2" >&2; exit 2; }
		ENV2+=("$2")
		shift
		;;
	--fenv2)
		[[ $2 == [A-Za-z_]*=* ]] || { echo "--fenv2 wants VAR=VALUE, got $2" >&2; exit 2; }
		FENV2+=("$2")
		shift
		;;
	*) echo "usage: $0 [-r ROUNDS] [-p PINGS] [-i SECONDS] [--wgplex BIN] [--wgplex2 BIN] [--wireguard-go BIN] [--env2 VAR=VALUE] [--fenv2 VAR=VALUE]" >&2; exit 2 ;;
	esac
	shift
done
[[ $(id -u) -eq 0 ]] || { echo "needs root (network namespaces)" >&2; exit 1; }
umask 077
WORK=$(mktemp -d /tmp/wgpx-latfloor.XXXXXX)
NS_A=wgpxl-a-$$ NS_B=wgpxl-b-$$ IF=wgpxl$$
# shellcheck source=bench/netns-pair.sh
source "$ROOT/bench/netns-pair.sh"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
cleanup() {
	set +e
	pair_down >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z $WGPLEX_BIN ]]; then
	go build -o "$WORK/wgplex" ./cmd/wgplex
	WGPLEX_BIN=$WORK/wgplex
fi
[[ -n $WGGO_BIN ]] || WGGO_BIN=$(command -v wireguard || echo "$(go env GOPATH)/bin/wireguard")
[[ -x $WGGO_BIN ]] || { echo "no wireguard-go binary at $WGGO_BIN (--wireguard-go BIN)" >&2; exit 1; }
go build -o "$WORK/benchtool" ./bench/benchtool

# forward_up: the namespaces and veth of netns-pair.sh, a forwarder in
# each instead of a WireGuard daemon, the tunnel addresses on its TUN.
forward_up() {
	underlay_up
	local ns side me peer
	for side in a b; do
		if [[ $side == a ]]; then ns=$NS_A me=1 peer=2; else ns=$NS_B me=2 peer=1; fi
		ip netns exec "$ns" env "${FWD_ENV:-FWD_NONE=}" "$WORK/benchtool" forward -tun "${IF}$side" \
			-listen "10.231.0.$me:51820" -peer "10.231.0.$peer:51820" &
		local i
		for ((i = 0; i < 50; i++)); do
			ip -n "$ns" link show "${IF}$side" >/dev/null 2>&1 && break
			sleep 0.1
		done
		ip -n "$ns" addr add "10.232.0.$me/24" dev "${IF}$side"
		ip -n "$ns" link set "${IF}$side" mtu 1420 up
	done
	ip netns exec "$NS_A" ping -n -q -c 1 -w 10 10.232.0.2 >/dev/null
}

# pcts ADDR -> "p50 p99" in ms
pcts() {
	ip netns exec "$NS_A" ping -n -c "$PINGS" -i "$INTERVAL" -W 1 "$1" 2>/dev/null | ping_p50_p99
}

# tunnel_cpu_ns: the CPU time, in ns, of every process in the two
# namespaces (the two tunnel ends).
tunnel_cpu_ns() {
	# shellcheck disable=SC2046
	cpu_ns $(ip netns pids "$NS_A") $(ip netns pids "$NS_B")
}

declare -A P50 P99 CPU VARIANT
KINDS=(veth forward wgplex)
[[ -z $WGPLEX2_BIN ]] || KINDS+=(wgplex2)
for e in "${FENV2[@]}"; do
	KINDS+=("forward+${e#*=}")
	VARIANT[forward+${e#*=}]=$e
done
for e in "${ENV2[@]}"; do
	KINDS+=("wgplex+${e#WGPLEX_}")
	VARIANT[wgplex+${e#WGPLEX_}]=$e
done
KINDS+=(wireguard-go)
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
	for k in "${KINDS[@]}"; do
		case $k in
		veth | forward) forward_up ;;
		forward+*) FWD_ENV=${VARIANT[$k]} forward_up ;;
		wgplex) pair_up "$WGPLEX_BIN" "$WGPLEX_BIN" ;;
		wgplex2) pair_up "$WGPLEX2_BIN" "$WGPLEX2_BIN" ;;
		wgplex+*) (export "${VARIANT[$k]?}" && pair_up "$WGPLEX_BIN" "$WGPLEX_BIN") ;;
		wireguard-go) pair_up "$WGGO_BIN" "$WGGO_BIN" ;;
		esac
		c0=$(tunnel_cpu_ns)
		if [[ $k == veth ]]; then p=$(pcts 10.231.0.2); else p=$(pcts 10.232.0.2); fi
		c=$((($(tunnel_cpu_ns) - c0) / PINGS / 1000))
		[[ $k != veth ]] || c=''
		P50[$k]+="${p% *} " P99[$k]+="${p#* } " CPU[$k]+="${c:+$c }"
		echo "round $r $k: p50 ${p% *} ms, p99 ${p#* } ms${c:+, CPU $c us/ping}"
		pair_down
	done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| path | ping p50, ms | ping p99, ms | p50 / wireguard-go | CPU per ping, us | CPU / wireguard-go |"
echo "|---|---|---|---|---|---|"
# shellcheck disable=SC2086
wg50=$(median "${P50[wireguard-go]}") wgcpu=$(median "${CPU[wireguard-go]}")
for k in "${KINDS[@]}"; do
	# shellcheck disable=SC2086
	echo "| $k | $(spread "${P50[$k]}") | $(spread "${P99[$k]}") | $(ratio "$(median "${P50[$k]}")" "$wg50") | $(spread "${CPU[$k]:-}") | $(ratio "$(median "${CPU[$k]:-}")" "$wgcpu") |"
done
