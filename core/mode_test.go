package core_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// Both crypto modes must deliver a burst complete and in order: inline
// runs jobs on the reading goroutine, parallel on the workers, and the
// per-peer queues must keep order either way.
func TestCryptoModesDeliverBurstsInOrder(t *testing.T) {
	for _, mode := range []core.CryptoMode{core.CryptoInline, core.CryptoParallel} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Setenv("WGPLEX_CRYPTO", mode.String())
			clock := coretest.NewFakeClock(epoch)
			a, b, _ := pair(t, clock, false)
			if got := a.Tunnel.CryptoMode(); got != mode {
				t.Fatalf("CryptoMode() = %v, want %v", got, mode)
			}
			send(t, a, b, "warm up") // handshake done
			src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
			const bursts, size = 10, 200
			next := uint32(0)
			for burst := 0; burst < bursts; burst++ {
				for i := 0; i < size; i++ {
					var payload [64]byte
					binary.BigEndian.PutUint32(payload[:], uint32(burst*size+i))
					if !a.Dev.Inject(ipPacket(src, dst, payload[:])) {
						t.Fatal("device queue full")
					}
				}
				deadline := time.After(10 * time.Second)
				for got := 0; got < size; got++ {
					select {
					case p := <-b.Dev.Outbound():
						seq := binary.BigEndian.Uint32(p[len(p)-64:])
						if seq != next {
							t.Fatalf("packet %d arrived when %d was expected", seq, next)
						}
						next++
					case <-deadline:
						t.Fatalf("burst %d: %d of %d packets arrived", burst, got, size)
					}
				}
			}
		})
	}
}

func TestParseCryptoMode(t *testing.T) {
	for in, want := range map[string]core.CryptoMode{"": core.CryptoAuto, "auto": core.CryptoAuto, "inline": core.CryptoInline, "parallel": core.CryptoParallel} {
		if got, err := core.ParseCryptoMode(in); err != nil || got != want {
			t.Errorf("ParseCryptoMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := core.ParseCryptoMode("fast"); err == nil {
		t.Error("ParseCryptoMode(\"fast\") accepted")
	}
}
