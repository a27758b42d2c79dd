#!/usr/bin/env bash
# Builds wgplex, brings up a tunnel between two network namespaces on this
# machine, and prints proof that it works: handshake time, ping through the
# tunnel, a bulk transfer figure. Everything it creates is removed on exit.
# Needs root (namespaces, TUN) and Go; installs wireguard-tools and iperf3
# with apt when they are missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: needs root (network namespaces and /dev/net/tun); try: sudo $0" >&2
	exit 1
fi
need=()
command -v wg >/dev/null || need+=(wireguard-tools)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v ping >/dev/null || need+=(iputils-ping)
command -v ip >/dev/null || need+=(iproute2)
if [[ ${#need[@]} -gt 0 ]]; then
	echo "demo: installing ${need[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

tag=$$
NS_A=wgpxdemo-a-$tag NS_B=wgpxdemo-b-$tag IF_A=wgpxda$tag IF_B=wgpxdb$tag
IF_A=${IF_A:0:15} IF_B=${IF_B:0:15}
work=$(mktemp -d)
cleanup() {
	for ns in "$NS_A" "$NS_B"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
	done
	sleep 0.2
	for ns in "$NS_A" "$NS_B"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -f "/var/run/wireguard/$IF_A.sock" "/var/run/wireguard/$IF_B.sock"
	rm -rf "$work"
}
trap cleanup EXIT

echo "==> building wgplex"
go build -o "$work/wgplex" ./cmd/wgplex
"$work/wgplex" --version | head -n 1

echo "==> two namespaces joined by a veth pair (underlay 10.241.0.1 <-> 10.241.0.2)"
ip netns add "$NS_A"
ip netns add "$NS_B"
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip link add "v$tag"a netns "$NS_A" type veth peer name "v$tag"b netns "$NS_B"
ip -n "$NS_A" addr add 10.241.0.1/24 dev "v$tag"a
ip -n "$NS_B" addr add 10.241.0.2/24 dev "v$tag"b
ip -n "$NS_A" link set "v$tag"a up
ip -n "$NS_B" link set "v$tag"b up

echo "==> a wgplex daemon in each, fresh keys, configured with wg(8)"
(umask 077 && wg genkey >"$work/a.key")
(umask 077 && wg genkey >"$work/b.key")
ip netns exec "$NS_A" "$work/wgplex" "$IF_A"
ip netns exec "$NS_B" "$work/wgplex" "$IF_B"
ip netns exec "$NS_A" wg set "$IF_A" private-key "$work/a.key" listen-port 51820 \
	peer "$(wg pubkey <"$work/b.key")" allowed-ips 10.242.0.2/32 endpoint 10.241.0.2:51820
ip netns exec "$NS_B" wg set "$IF_B" private-key "$work/b.key" listen-port 51820 \
	peer "$(wg pubkey <"$work/a.key")" allowed-ips 10.242.0.1/32 endpoint 10.241.0.1:51820
ip -n "$NS_A" addr add 10.242.0.1/24 dev "$IF_A"
ip -n "$NS_B" addr add 10.242.0.2/24 dev "$IF_B"
ip -n "$NS_A" link set "$IF_A" mtu 1420 up
ip -n "$NS_B" link set "$IF_B" mtu 1420 up

echo "==> handshake"
start=$(date +%s%N)
ip netns exec "$NS_A" ping -c 1 -W 5 10.242.0.2 >/dev/null
end=$(date +%s%N)
echo "first packet through the tunnel (handshake included): $(((end - start) / 1000000)) ms"
ip netns exec "$NS_A" wg show "$IF_A"

echo
echo "==> ping through the tunnel"
ip netns exec "$NS_A" ping -c 5 -i 0.2 10.242.0.2 | tail -n 2

echo
echo "==> bulk transfer (iperf3, TCP, 3 s)"
ip netns exec "$NS_B" iperf3 -s -1 -D -B 10.242.0.2
for _ in $(seq 50); do ip netns exec "$NS_B" ss -ltn | grep -q ':5201' && break; sleep 0.1; done
ip netns exec "$NS_A" iperf3 -c 10.242.0.2 -t 3 | grep -E 'sender|receiver'

echo
echo "demo: OK - everything it created is being removed"
