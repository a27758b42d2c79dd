#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two network namespaces joined by a veth pair, a userspace WireGuard daemon
# in each, and a tunnel between them. Sourced by the bench scripts; usable
# alone to poke at a tunnel by hand:
#
#   bench/netns-pair.sh up IMPL_A IMPL_B    # IMPL = path to wgplex or wireguard-go
#   bench/netns-pair.sh down
#
# Underlay 10.231.0.1/24 <-> 10.231.0.2/24, tunnel 10.232.0.1 <-> 10.232.0.2,
# MTU 1420 inside, as in the figures of the README.
set -euo pipefail
NS_A=${NS_A:-wgpxbench-a}
NS_B=${NS_B:-wgpxbench-b}
IF=${IF:-wgpxb0}
MTU=${MTU:-1420}

pair_down() {
	for ns in "$NS_A" "$NS_B"; do
		if ip netns list | grep -qw "$ns"; then
			for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done; sleep 0.3
			for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
			ip netns del "$ns" || true
		fi
	done
	rm -f "/var/run/wireguard/$IF.sock"
}

# veth_join NS1 IF1 ADDR1 NS2 IF2 ADDR2: a veth pair between two existing
# namespaces, IF1 with ADDR1 (CIDR) in NS1 and IF2 with ADDR2 in NS2, up.
veth_join() {
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$4" addr add "$6" dev "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

# underlay_up: the two namespaces, fresh, joined by the veth pair with the
# underlay addresses; what runs the tunnel over it is up to the caller.
underlay_up() {
	pair_down
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip -n "$NS_A" link set lo up
	ip -n "$NS_B" link set lo up
	veth_join "$NS_A" wgpxbv0 10.231.0.1/24 "$NS_B" wgpxbv1 10.231.0.2/24
}

pair_up() {
	local impl_a=$1 impl_b=$2 tmp
	underlay_up
	tmp=$(mktemp -d)
	(umask 077 && wg genkey >"$tmp/a" && wg genkey >"$tmp/b")
	# Each namespace has its own /var/run/wireguard only if we give it one:
	# the socket directory is shared, so the daemons get distinct names.
	ip netns exec "$NS_A" env LOG_LEVEL=${LOG_LEVEL:-error} "$impl_a" "${IF}a"
	ip netns exec "$NS_B" env LOG_LEVEL=${LOG_LEVEL:-error} "$impl_b" "${IF}b"
	ip netns exec "$NS_A" wg set "${IF}a" private-key "$tmp/a" listen-port 51820 \
		peer "$(wg pubkey <"$tmp/b")" allowed-ips 10.232.0.2/32 endpoint 10.231.0.2:51820
	ip netns exec "$NS_B" wg set "${IF}b" private-key "$tmp/b" listen-port 51820 \
		peer "$(wg pubkey <"$tmp/a")" allowed-ips 10.232.0.1/32 endpoint 10.231.0.1:51820
	ip -n "$NS_A" addr add 10.232.0.1/24 dev "${IF}a"
	ip -n "$NS_B" addr add 10.232.0.2/24 dev "${IF}b"
	ip -n "$NS_A" link set "${IF}a" mtu "$MTU" up
	ip -n "$NS_B" link set "${IF}b" mtu "$MTU" up
	rm -rf "$tmp"
	# One ping answered proves the handshake; keep pinging (5 per second)
	# for up to 20 s, since on a busy machine the first initiation can be
	# lost and the retry comes 5 s later.
	if ! ip netns exec "$NS_A" ping -n -q -c 1 -i 0.2 -w 20 10.232.0.2 >/dev/null; then
		echo "pair_up: no ping through the tunnel within 20 s" >&2
		return 1
	fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	case "${1:-}" in
	up) pair_up "$2" "$3" ;;
	down) pair_down ;;
	*) echo "usage: $0 up IMPL_A IMPL_B | down" >&2; exit 2 ;;
	esac
fi
