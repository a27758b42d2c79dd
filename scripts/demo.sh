#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds wgplex and runs `wgplex demo`: two network namespaces on this
# machine, a wgplex interface in each brought up with `wgplex up` from a
# config file with fresh keys, a ping and a TCP transfer through the tunnel,
# then `wgplex down` and everything removed. Needs root (namespaces, TUN)
# and Go, nothing else: no wg(8), ip(8), ping(8) or iperf3.
#
#	sudo scripts/demo.sh [--seconds N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: needs root (network namespaces and /dev/net/tun); try: sudo $0" >&2
	exit 1
fi
if ! command -v go >/dev/null; then
	for d in /usr/local/go/bin /usr/lib/go/bin; do
		[[ -x $d/go ]] && PATH=$d:$PATH && break
	done
fi
if [[ ! -e /dev/net/tun ]]; then
	modprobe tun 2>/dev/null || true
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "==> building wgplex"
go build -o "$work/wgplex" ./cmd/wgplex
"$work/wgplex" demo "$@"
