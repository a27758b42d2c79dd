// SPDX-License-Identifier: MIT

package netstack_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"

	"github.com/wgplex/wgplex/backends/netstack"
	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/noise"
	"github.com/wgplex/wgplex/transports/udp"
)

// A program that embeds a tunnel: two WireGuard interfaces in one process,
// talking over UDP on the loopback address, one serving HTTP inside the
// tunnel and the other fetching from it. A real program runs one side and
// reaches its peer over the network; nothing here needs root.
func Example() {
	keyA, _ := noise.GeneratePrivateKey()
	keyB, _ := noise.GeneratePrivateKey()

	// The device is the interface: its addresses, DNS servers and MTU.
	devA, _ := netstack.New(netstack.Options{Addresses: []netip.Prefix{netip.MustParsePrefix("10.7.0.1/24")}})
	devB, _ := netstack.New(netstack.Options{Addresses: []netip.Prefix{netip.MustParsePrefix("10.7.0.2/24")}})
	tunA, _ := core.NewTunnel(core.Options{Device: devA, Bind: udp.NewBind()})
	tunB, _ := core.NewTunnel(core.Options{Device: devB, Bind: udp.NewBind()})
	defer tunA.Close()
	defer tunB.Close()

	// Ports 0: let the system pick, then tell each side where the other
	// is. Up binds the port now rather than when the device's "up" event
	// is handled.
	var zero uint16
	tunA.Apply(core.Config{PrivateKey: &keyA, ListenPort: &zero})
	tunB.Apply(core.Config{PrivateKey: &keyB, ListenPort: &zero})
	tunA.Up()
	tunB.Up()
	epA := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tunA.Snapshot().ListenPort)
	epB := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tunB.Snapshot().ListenPort)
	tunA.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: keyB.PublicKey(), Endpoint: &epB,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.7.0.2/32")}}}}})
	tunB.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: keyA.PublicKey(), Endpoint: &epA,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.7.0.1/32")}}}}})

	// Side A serves HTTP on its tunnel address.
	ln, _ := devA.Net().Listen("tcp", "10.7.0.1:80")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from inside the tunnel")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	// Side B's HTTP client dials through its tunnel.
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return devB.Net().DialContext(ctx, network, addr)
		},
	}}
	resp, err := client.Get("http://10.7.0.1/")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: hello from inside the tunnel
}
