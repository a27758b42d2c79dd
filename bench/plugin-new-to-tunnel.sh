#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# How long a new key vault plugin takes from `wgplex plugin new` to a
# working tunnel, machine time only: scaffold (with go mod tidy), build,
# a key from wg genkey, a wgplex daemon with the new vault in one network
# namespace and a plain one in another, configure both with wg(8), ping.
#
#   sudo bench/plugin-new-to-tunnel.sh [PATH-TO-WGPLEX]
#
# Needs root, wg(8) and a Go toolchain; builds wgplex from this checkout
# when no binary is given. Prints the time of each step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
NS_A=wgpxnew-a NS_B=wgpxnew-b IF=wgpxnew
cleanup() {
	for ns in "$NS_A" "$NS_B"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
	done
	sleep 0.5
	for ns in "$NS_A" "$NS_B"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -f "/var/run/wireguard/${IF}a.sock" "/var/run/wireguard/${IF}b.sock"
	rm -rf "$work"
}
trap cleanup EXIT
wgplex=${1:-}
if [[ -z $wgplex ]]; then
	(cd "$root" && go build -o "$work/wgplex" ./cmd/wgplex)
	wgplex=$work/wgplex
fi
now() { date +%s.%N; }
lap() { printf '%-34s %6.1f s\n' "$1" "$(echo "$(now) - $2" | bc)"; }

t0=$(now)
t=$t0
(cd "$work" && "$wgplex" plugin new --wgplex-src "$root" keyvault my-vault >/dev/null)
lap "wgplex plugin new (+ go mod tidy)" "$t"
t=$(now)
(cd "$work/my-vault" && go build -o my-vault .)
lap "go build" "$t"
t=$(now)
(umask 077 && wg genkey >"$work/a.key" && wg genkey >"$work/b.key")
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add wgpxnv0 netns "$NS_A" type veth peer name wgpxnv1 netns "$NS_B"
ip -n "$NS_A" addr add 10.233.0.1/24 dev wgpxnv0
ip -n "$NS_B" addr add 10.233.0.2/24 dev wgpxnv1
ip -n "$NS_A" link set wgpxnv0 up
ip -n "$NS_B" link set wgpxnv1 up
ip netns exec "$NS_A" "$wgplex" --keyvault "$work/my-vault/my-vault -key $work/a.key" "${IF}a"
ip netns exec "$NS_B" "$wgplex" "${IF}b"
ip netns exec "$NS_A" wg set "${IF}a" listen-port 51820 \
	peer "$(wg pubkey <"$work/b.key")" allowed-ips 10.234.0.2/32 endpoint 10.233.0.2:51820
ip netns exec "$NS_B" wg set "${IF}b" private-key "$work/b.key" listen-port 51820 \
	peer "$(wg pubkey <"$work/a.key")" allowed-ips 10.234.0.1/32 endpoint 10.233.0.1:51820
ip -n "$NS_A" addr add 10.234.0.1/24 dev "${IF}a"
ip -n "$NS_B" addr add 10.234.0.2/24 dev "${IF}b"
ip -n "$NS_A" link set "${IF}a" up
ip -n "$NS_B" link set "${IF}b" up
ip netns exec "$NS_A" ping -c 1 -W 5 10.234.0.2 >/dev/null
lap "daemons up, configured, first ping" "$t"
lap "total" "$t0"
ip netns exec "$NS_A" "$wgplex" show "${IF}a" | sed -n '/^plugin:/,$p'
