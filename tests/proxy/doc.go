// SPDX-License-Identifier: MIT

// Package proxy tests "wgplex proxy" end to end without root: two proxy
// processes on the loopback address, each the other's peer, with a web
// server, a DNS server and echo servers on the host side. When the tests
// run as root, the proxies run as the unprivileged user nobody, to show
// that nothing in them needs privileges.
package proxy
