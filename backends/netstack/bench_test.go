// SPDX-License-Identifier: MIT

package netstack

import (
	"io"
	"testing"
)

// BenchmarkTCPThroughput moves data over one TCP connection between two
// netstack devices through two tunnels on the in-memory underlay: the
// stack, the device's batch I/O and the engine's crypto, without sockets.
func BenchmarkTCPThroughput(b *testing.B) {
	a, c := pairB(b)
	ln, err := a.Net().Listen("tcp", "10.0.0.1:5201")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, s)
		s.Close()
	}()
	conn, err := c.Net().Dial("tcp", "10.0.0.1:5201")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}
