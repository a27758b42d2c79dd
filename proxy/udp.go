// SPDX-License-Identifier: MIT

package proxy

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// UDPForward is a fixed UDP port forward: UDPClientTunnel (a host port to
// a target in the tunnel) or UDPServerTunnel (a tunnel port to a target on
// the host). Each client address gets a flow of its own: a socket towards
// the target whose answers go back to that client. A flow ends after
// UDPIdleTimeout without traffic; at most MaxUDPFlows exist, and a
// datagram from a new client beyond that is dropped.
type UDPForward struct {
	pc   net.PacketConn
	dial func(ctx context.Context) (net.Conn, error)
	o    Options
	name string

	mu     sync.Mutex
	flows  map[string]*flow
	closed bool
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup
}

type flow struct {
	c    net.Conn
	last time.Time
}

// ForwardUDPIn listens on the host address bind and sends each client's
// datagrams to target through the tunnel.
func ForwardUDPIn(bind, target string, o Options) (*UDPForward, error) {
	o.fill()
	host, port, err := splitTarget(target)
	if err != nil {
		return nil, fmt.Errorf("UDPClientTunnel: %w", err)
	}
	pc, err := net.ListenPacket("udp", bind)
	if err != nil {
		return nil, fmt.Errorf("UDPClientTunnel: %w", err)
	}
	f := newUDPForward("udp-client-tunnel", pc, o, func(ctx context.Context) (net.Conn, error) {
		return dialTunnel(ctx, &o, "udp", host, port)
	})
	return f, nil
}

// ForwardUDPOut listens on port of every tunnel address and sends each
// peer's datagrams to target on the host.
func ForwardUDPOut(port uint16, target string, o Options) (*UDPForward, error) {
	o.fill()
	if _, _, err := splitTarget(target); err != nil {
		return nil, fmt.Errorf("UDPServerTunnel: %w", err)
	}
	pc, err := o.Tunnel.ListenPacket("udp", ":"+strconv.Itoa(int(port)))
	if err != nil {
		return nil, fmt.Errorf("UDPServerTunnel: %w", err)
	}
	d := net.Dialer{Timeout: o.DialTimeout}
	f := newUDPForward("udp-server-tunnel", pc, o, func(ctx context.Context) (net.Conn, error) {
		return d.DialContext(ctx, "udp", target)
	})
	return f, nil
}

func newUDPForward(name string, pc net.PacketConn, o Options, dial func(context.Context) (net.Conn, error)) *UDPForward {
	f := &UDPForward{pc: pc, dial: dial, o: o, name: name, flows: map[string]*flow{}, done: make(chan struct{})}
	f.wg.Add(2)
	go f.readClients()
	go f.expire()
	return f
}

// Addr is the address the forward listens on.
func (f *UDPForward) Addr() net.Addr { return f.pc.LocalAddr() }

// Close stops the forward and ends every flow.
func (f *UDPForward) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.done)
	err := f.pc.Close()
	for _, fl := range f.flows {
		fl.c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return err
}

func (f *UDPForward) readClients() {
	defer f.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := f.pc.ReadFrom(buf)
		if err != nil {
			f.mu.Lock()
			closed := f.closed
			f.mu.Unlock()
			if closed {
				return
			}
			f.o.Logger.Debug("UDP forward: read failed", "forward", f.name, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		fl := f.flowFor(from)
		if fl == nil {
			continue
		}
		fl.c.Write(buf[:n])
	}
}

// flowFor returns the client's flow, opening one if there is room.
func (f *UDPForward) flowFor(from net.Addr) *flow {
	key := from.String()
	f.mu.Lock()
	fl, ok := f.flows[key]
	if ok {
		fl.last = time.Now()
		f.mu.Unlock()
		return fl
	}
	full := len(f.flows) >= f.o.MaxUDPFlows
	f.mu.Unlock()
	if full {
		f.o.Logger.Debug("UDP forward: too many flows, dropping", "forward", f.name, "client", key)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.o.DialTimeout)
	c, err := f.dial(ctx)
	cancel()
	if err != nil {
		f.o.Logger.Debug("UDP forward: cannot reach target", "forward", f.name, "err", err)
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		c.Close()
		return nil
	}
	fl = &flow{c: c, last: time.Now()}
	f.flows[key] = fl
	f.wg.Add(1)
	go f.readTarget(key, from, fl)
	return fl
}

// readTarget sends the target's answers back to the client.
func (f *UDPForward) readTarget(key string, client net.Addr, fl *flow) {
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		if f.flows[key] == fl {
			delete(f.flows, key)
		}
		f.mu.Unlock()
		fl.c.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := fl.c.Read(buf)
		if err != nil {
			return
		}
		f.mu.Lock()
		fl.last = time.Now()
		f.mu.Unlock()
		f.pc.WriteTo(buf[:n], client)
	}
}

// expire ends idle flows.
func (f *UDPForward) expire() {
	defer f.wg.Done()
	every := max(f.o.UDPIdleTimeout/4, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-t.C:
		}
		f.mu.Lock()
		now := time.Now()
		for _, fl := range f.flows {
			if now.Sub(fl.last) > f.o.UDPIdleTimeout {
				fl.c.Close() // readTarget removes it
			}
		}
		f.mu.Unlock()
	}
}
