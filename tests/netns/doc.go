// SPDX-License-Identifier: MIT

// Package netns holds wgplex's end-to-end tests. Each test builds a private
// network out of Linux network namespaces and veth pairs, starts real daemon
// processes in it (wgplex and the reference implementation, wireguard-go),
// drives them with the stock wg(8) and wg-quick(8) tools and checks what goes
// through the tunnel with ping and iperf3.
//
// The tests need root, /dev/net/tun and the binaries ip, ss, ping, wg,
// wg-quick, iperf3 and wireguard-go; scripts/test.sh installs them. Without
// them every test skips, except when CI=true, where a missing prerequisite
// is a failure: a CI run that silently skipped its end-to-end tests would
// prove nothing.
//
// Environment:
//
//	WGPLEX_BIN         wgplex binary to test; otherwise TestMain builds ./cmd/wgplex
//	WGPLEX_TEST_IMPL   "wireguard-go" runs every scenario with wireguard-go as the
//	                   implementation under test, which validates the harness itself
//	WIREGUARD_GO_BIN   reference binary; otherwise wireguard-go or wireguard
//	                   (the name `go install golang.zx2c4.com/wireguard@...` gives)
//	                   from PATH or $(go env GOPATH)/bin
//	CI                 "true" turns every skip into a failure
//	WGPLEX_MESH_NODES  nodes of TestMeshEtcdFleet (default 8; bench/mesh.sh
//	                   runs 32 and 64)
//
// Nothing here sends a packet outside the namespaces a test creates: the
// underlay uses 10.213.0.0/16 and fd00:213::/64, the tunnel 10.214.0.0/16 and
// fd00:214::/64, and endpoints that must stay unreachable point at addresses
// for which the namespace has no route.
package netns
