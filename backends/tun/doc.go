// Package tun is wgplex's Linux TUN backend: a core.Device on a
// /dev/net/tun interface (IFF_TUN, no packet information header), with MTU
// control and link events read from rtnetlink.
//
// The implementation is Linux only; on other systems the package is empty
// and the BSD, macOS and Windows backends take its place.
package tun
