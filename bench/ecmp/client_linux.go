//go:build linux

package ecmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"
)

// Flows are UDP flows from the client namespace to the service: one socket
// per flow, bound to ClientAddr and its own source port, kept open so that
// a flow is the same 5-tuple for its whole life. Send may be called from one
// goroutine while another reads Sent.
type Flows struct {
	conns []*net.UDPConn
	dst   netip.AddrPort
	sent  atomic.Uint64
	buf   [8]byte
}

// OpenFlows opens n flows from source ports first, first+1, ...
func (l *Lab) OpenFlows(n int, first uint16) (*Flows, error) {
	if n < 1 || int(first)+n > 65536 {
		return nil, fmt.Errorf("%w: %d flows from port %d", ErrBadConfig, n, first)
	}
	f := &Flows{dst: netip.AddrPortFrom(Service, ServicePort)}
	err := inNS(l.ClientNS, func() error {
		for i := range n {
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ClientAddr, first+uint16(i))))
			if err != nil {
				return fmt.Errorf("bind %s:%d: %w", ClientAddr, int(first)+i, err)
			}
			f.conns = append(f.conns, c)
		}
		return nil
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ecmp: open flows: %w", err)
	}
	return f, nil
}

// Len is the number of flows.
func (f *Flows) Len() int { return len(f.conns) }

// Sent is the number of datagrams sent so far.
func (f *Flows) Sent() uint64 { return f.sent.Load() }

// Send sends one datagram on flow i; its payload is the flow number.
func (f *Flows) Send(i int) error {
	binary.BigEndian.PutUint64(f.buf[:], uint64(i))
	if _, err := f.conns[i].WriteToUDPAddrPort(f.buf[:], f.dst); err != nil {
		return fmt.Errorf("flow %d: %w", i, err)
	}
	f.sent.Add(1)
	return nil
}

// Round sends one datagram on every flow, pausing pause after every batch
// datagrams so that no queue on the way overflows on a loaded machine.
func (f *Flows) Round(batch int, pause time.Duration) error {
	for i := range f.conns {
		if err := f.Send(i); err != nil {
			return err
		}
		if batch > 0 && (i+1)%batch == 0 {
			time.Sleep(pause)
		}
	}
	return nil
}

// Close closes every socket.
func (f *Flows) Close() error {
	var errs []error
	for _, c := range f.conns {
		errs = append(errs, c.Close())
	}
	f.conns = nil
	return errors.Join(errs...)
}

// inNS runs fn on a thread switched into the named namespace; a thread that
// cannot be switched back stays locked and dies with its goroutine.
func inNS(name string, fn func() error) error {
	c := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			c <- fmt.Errorf("get netns: %w", err)
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(name)
		if err != nil {
			runtime.UnlockOSThread()
			c <- fmt.Errorf("netns %s: %w", name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			runtime.UnlockOSThread()
			c <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			c <- errors.Join(ferr, fmt.Errorf("leave netns %s: %w", name, err))
			return // the thread stays locked and exits with this goroutine
		}
		runtime.UnlockOSThread()
		c <- ferr
	}()
	return <-c
}

// Probe finds where each flow lands: it sends one datagram on each flow in
// turn and waits until exactly one member of one running host has counted
// it. Nothing else may send to the service meanwhile.
func (l *Lab) Probe(f *Flows, timeout time.Duration) ([]Placement, error) {
	last, _, err := l.Delivered()
	if err != nil {
		return nil, err
	}
	out := make([]Placement, f.Len())
	for i := range out {
		if err := f.Send(i); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(timeout)
		for {
			cur, _, err := l.Delivered()
			if err != nil {
				return nil, err
			}
			p, n := diffOne(last, cur)
			if n > 1 {
				return nil, fmt.Errorf("probe flow %d: %d datagrams counted, want 1", i, n)
			}
			if n == 1 {
				out[i], last = p, cur
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("probe flow %d: no host counted its datagram within %v", i, timeout)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	return out, nil
}
