// SPDX-License-Identifier: MIT

package netstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Net is the inside of the tunnel as a program sees it: connections
// dialled here leave through the tunnel, listeners here accept what peers
// send to the interface's addresses. It is safe for concurrent use and
// stays valid until its Device is closed.
type Net struct {
	stack    *stack.Stack
	v4, v6   bool
	dns      []netip.Addr
	next     atomic.Uint32 // which DNS server the next lookup starts at
	resolver *net.Resolver
}

func newNet(s *stack.Stack, v4, v6 bool, dns []netip.Addr) *Net {
	n := &Net{stack: s, v4: v4, v6: v6, dns: append([]netip.Addr(nil), dns...)}
	// The pure-Go resolver does the DNS work (retries, CNAMEs, search
	// domains, both address families); only its transport is replaced, so
	// that every query travels through the tunnel to the tunnel's servers
	// and none leaks to the host's.
	n.resolver = &net.Resolver{PreferGo: true, Dial: n.dialDNS}
	return n
}

// DNSServers returns the resolvers lookups ask.
func (n *Net) DNSServers() []netip.Addr { return append([]netip.Addr(nil), n.dns...) }

// Resolver returns a resolver whose queries go through the tunnel to its
// DNS servers. The resolver still reads the host's /etc/hosts and its
// resolv.conf options (search domains, timeouts), but never sends a query
// to the host's name servers.
func (n *Net) Resolver() *net.Resolver { return n.resolver }

// dialDNS replaces the address of whichever server the resolver picked
// with one of the tunnel's, taking them in turn so that a retry asks the
// next server.
func (n *Net) dialDNS(ctx context.Context, network, _ string) (net.Conn, error) {
	if len(n.dns) == 0 {
		return nil, errors.New("netstack: no DNS server configured for the tunnel")
	}
	i := int(n.next.Add(1)-1) % len(n.dns)
	server := netip.AddrPortFrom(n.dns[i], 53)
	return n.DialContext(ctx, network, server.String())
}

// LookupNetIP resolves host through the tunnel to the addresses of the
// families the interface has an address of. An IP literal is returned as
// it is.
func (n *Net) LookupNetIP(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	network := "ip"
	switch {
	case n.v4 && !n.v6:
		network = "ip4"
	case n.v6 && !n.v4:
		network = "ip6"
	}
	addrs, err := n.resolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, err
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}

// family says which IP versions a network name ("tcp", "udp6", ...)
// allows, and whether it is TCP.
func family(network string) (isTCP, v4, v6 bool, err error) {
	switch network {
	case "tcp":
		return true, true, true, nil
	case "tcp4":
		return true, true, false, nil
	case "tcp6":
		return true, false, true, nil
	case "udp":
		return false, true, true, nil
	case "udp4":
		return false, true, false, nil
	case "udp6":
		return false, false, true, nil
	}
	return false, false, false, net.UnknownNetworkError(network)
}

func fullAddr(ap netip.AddrPort) (tcpip.FullAddress, tcpip.NetworkProtocolNumber) {
	fa := tcpip.FullAddress{NIC: nicID, Port: ap.Port()}
	a := ap.Addr().Unmap()
	if a.IsValid() && !a.IsUnspecified() {
		fa.Addr = tcpip.AddrFromSlice(a.AsSlice())
	}
	if a.Is4() {
		return fa, ipv4.ProtocolNumber
	}
	return fa, ipv6.ProtocolNumber
}

// splitHostPort splits "host:port"; the port must be a number or a
// service name the host knows.
func splitHostPort(ctx context.Context, network, address string) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	if p, err := strconv.ParseUint(ps, 10, 16); err == nil {
		return host, uint16(p), nil
	}
	p, err := net.DefaultResolver.LookupPort(ctx, network, ps)
	if err != nil {
		return "", 0, err
	}
	return host, uint16(p), nil
}

// DialContext connects to address ("host:port") on network "tcp", "tcp4",
// "tcp6", "udp", "udp4" or "udp6" through the tunnel. A host name is
// resolved with the tunnel's DNS servers, and its addresses are tried in
// turn until one answers or ctx ends.
func (n *Net) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	isTCP, want4, want6, err := family(network)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	host, port, err := splitHostPort(ctx, network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	addrs, err := n.LookupNetIP(ctx, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var first error
	for _, a := range addrs {
		if (a.Is4() && !want4) || (a.Is6() && !want6) {
			continue
		}
		c, err := n.dialAddr(ctx, isTCP, netip.AddrPortFrom(a, port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if first == nil {
		first = fmt.Errorf("no %s address for %s", network, host)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: first}
}

// Dial is DialContext without a deadline.
func (n *Net) Dial(network, address string) (net.Conn, error) {
	return n.DialContext(context.Background(), network, address)
}

func (n *Net) dialAddr(ctx context.Context, isTCP bool, ap netip.AddrPort) (net.Conn, error) {
	if ap.Addr().IsUnspecified() {
		return nil, fmt.Errorf("cannot dial the unspecified address %v", ap.Addr())
	}
	fa, proto := fullAddr(ap)
	if isTCP {
		return gonet.DialContextTCP(ctx, n.stack, fa, proto)
	}
	return gonet.DialUDP(n.stack, nil, &fa, proto)
}

// DialTCPAddrPort connects to ap through the tunnel.
func (n *Net) DialTCPAddrPort(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
	return n.dialAddr(ctx, true, ap)
}

// localAddr parses the address a listener binds: an IP literal of the
// interface or an empty host for all of them.
func (n *Net) localAddr(network, address string) (isTCP bool, ap netip.AddrPort, proto tcpip.NetworkProtocolNumber, err error) {
	isTCP, want4, want6, err := family(network)
	if err != nil {
		return false, ap, 0, err
	}
	host, port, err := splitHostPort(context.Background(), network, address)
	if err != nil {
		return false, ap, 0, err
	}
	var a netip.Addr
	if host != "" {
		if a, err = netip.ParseAddr(host); err != nil {
			return false, ap, 0, fmt.Errorf("listen address %q is not an IP address", host)
		}
		a = a.Unmap()
	}
	switch {
	case a.Is4() || (!a.IsValid() && (!want6 || !n.v6)):
		if !want4 {
			return false, ap, 0, fmt.Errorf("%v is not an IPv6 address", a)
		}
		proto = ipv4.ProtocolNumber
	default:
		if !want6 {
			return false, ap, 0, fmt.Errorf("%v is not an IPv4 address", a)
		}
		proto = ipv6.ProtocolNumber
	}
	return isTCP, netip.AddrPortFrom(a, port), proto, nil
}

// Listen listens for TCP connections on address ("ip:port" or ":port")
// inside the tunnel. With no IP, "tcp" listens on every address of the
// interface, IPv4 and IPv6 alike.
func (n *Net) Listen(network, address string) (net.Listener, error) {
	isTCP, ap, proto, err := n.localAddr(network, address)
	if err == nil && !isTCP {
		err = net.UnknownNetworkError(network)
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	var wq waiter.Queue
	ep, terr := n.stack.NewEndpoint(tcp.ProtocolNumber, proto, &wq)
	if terr != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errors.New(terr.String())}
	}
	// "tcp6" means IPv6 only; "tcp" on no address takes both families
	// with one endpoint, as a dual-stack socket does.
	ep.SocketOptions().SetV6Only(network == "tcp6")
	fa, _ := fullAddr(ap)
	if !ap.Addr().IsValid() {
		fa.Addr = tcpip.Address{}
	}
	if terr := ep.Bind(fa); terr != nil {
		ep.Close()
		return nil, &net.OpError{Op: "listen", Net: network, Err: errors.New(terr.String())}
	}
	if terr := ep.Listen(1024); terr != nil {
		ep.Close()
		return nil, &net.OpError{Op: "listen", Net: network, Err: errors.New(terr.String())}
	}
	return gonet.NewTCPListener(n.stack, &wq, ep), nil
}

// ListenPacket opens a UDP socket on address ("ip:port" or ":port") inside
// the tunnel.
func (n *Net) ListenPacket(network, address string) (net.PacketConn, error) {
	isTCP, ap, proto, err := n.localAddr(network, address)
	if err == nil && isTCP {
		err = net.UnknownNetworkError(network)
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	fa, _ := fullAddr(ap)
	if !ap.Addr().IsValid() {
		fa.Addr = tcpip.Address{}
	}
	c, err := gonet.DialUDP(n.stack, &fa, nil, proto)
	if err != nil {
		return nil, err
	}
	return c, nil
}
