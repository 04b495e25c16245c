//go:build linux

package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

// txSocketOptions are the default socket options with a TX ring, for
// tests that reply.
func txSocketOptions() rxq.SocketOptions {
	o := rxq.DefaultSocketOptions()
	o.TXRingSize = 2048
	return o
}

// echoMembers answers every datagram each endpoint receives with its own
// payload (Reply in place) and counts, per member, the IPv4 and IPv6
// frames it got.
type echoMembers struct {
	v4, v6 []atomic.Uint64
	wg     sync.WaitGroup
	errMu  sync.Mutex
	errs   []error
}

func startEcho(eps []*Endpoint) *echoMembers {
	g := &echoMembers{v4: make([]atomic.Uint64, len(eps)), v6: make([]atomic.Uint64, len(eps))}
	for m, ep := range eps {
		g.wg.Go(func() {
			batch := make([]Frame, rxq.BatchSize)
			for {
				n, err := ep.Receive(context.Background(), batch)
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						g.fail(fmt.Errorf("member %d: receive: %w", m, err))
					}
					return
				}
				for i := range batch[:n] {
					f := &batch[i]
					if f.Src.Addr().Is4() {
						g.v4[m].Add(1)
					} else {
						g.v6[m].Add(1)
					}
					if err := ep.Reply(f, f.Payload); err != nil && !errors.Is(err, ErrClosed) {
						g.fail(fmt.Errorf("member %d: reply: %w", m, err))
					}
				}
			}
		})
	}
	return g
}

func (g *echoMembers) fail(err error) {
	g.errMu.Lock()
	g.errs = append(g.errs, err)
	g.errMu.Unlock()
}

// echoClient sends count datagrams from SendNS to dst, from flows
// unconnected sockets (one source port each), in paced chunks, and checks
// that every one comes back, from dst, with its payload. It returns the
// number of distinct echoes.
func echoClient(t *testing.T, lab *netlab.Lab, dst netip.AddrPort, flows, count int) int {
	t.Helper()
	src := lab.SendAddr
	if dst.Addr().Is6() {
		src = lab.SendAddr6
	}
	conns := make([]*net.UDPConn, flows)
	err := lab.InSend(func() error {
		for i := range conns {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
			if err != nil {
				return err
			}
			conns[i] = c
		}
		return nil
	})
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]atomic.Bool, count)
	var distinct, wrong atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		wg.Go(func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				seq, ok := checkSeq(buf[:n])
				if !ok || seq >= uint64(count) || netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) != dst {
					wrong.Add(1)
					continue
				}
				if !seen[seq].Swap(true) {
					if distinct.Add(1) == int64(count) {
						for _, c := range conns {
							c.SetReadDeadline(time.Now())
						}
					}
				}
			}
		})
	}
	const chunk = 200
	for base := 0; base < count; base += chunk {
		for i := base; i < min(base+chunk, count); i++ {
			if _, err := conns[i%flows].WriteToUDPAddrPort(seqPayload(uint64(i)), dst); err != nil {
				t.Errorf("send %d to %s: %v", i, dst, err)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	if w := wrong.Load(); w != 0 {
		t.Errorf("%s: %d echoes with a wrong payload or source", dst, w)
	}
	return int(distinct.Load())
}

// TestInterfaceDualStackGroup is SPEC section 3's dual-stack groups end to
// end: with pcb.Config.DualStackGroups, four reuseport members bound to
// [::]:port that accept IPv4 (DualStack) form one group; IPv4 and IPv6
// flows from the peer namespace spread over all four, and every echo
// (Reply, IPv4 or IPv6 headers by the request's family) comes back from the
// address the client wrote to.
func TestInterfaceDualStackGroup(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	const (
		members = 4
		port    = 7100
		flows   = 64
		count   = 2000
	)
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: ifaceLabPrefix + "d", IPv6: true})
	ifc := openLabInterface(t, lab, InterfaceConfig{Socket: txSocketOptions(),
		Config: Config{Table: pcb.Config{DualStackGroups: true}}})
	local := netip.MustParseAddrPort(fmt.Sprintf("[::]:%d", port))
	eps := make([]*Endpoint, members)
	for m := range eps {
		ep, err := ifc.Bind(pcb.Spec{Proto: pcb.UDP, Local: local, ReusePort: true, DualStack: true,
			Owner: testOwner, Name: fmt.Sprintf("udp/%s#%d", local, m)}, EndpointOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eps[m] = ep
	}
	g := startEcho(eps)
	defer func() {
		ifc.Close()
		g.wg.Wait()
		for _, err := range g.errs {
			t.Error(err)
		}
	}()

	for _, dst := range []netip.AddrPort{
		netip.AddrPortFrom(lab.RecvAddr, port),
		netip.AddrPortFrom(lab.RecvAddr6, port),
	} {
		if got := echoClient(t, lab, dst, flows, count); got != count {
			t.Errorf("%s: %d of %d echoes came back", dst, got, count)
		}
	}
	var v4, v6 uint64
	for m := range eps {
		a, b := g.v4[m].Load(), g.v6[m].Load()
		t.Logf("member %d: %d IPv4, %d IPv6", m, a, b)
		if a == 0 || b == 0 {
			t.Errorf("member %d got %d IPv4 and %d IPv6 datagrams: want both families", m, a, b)
		}
		v4, v6 = v4+a, v6+b
	}
	if v4 != count || v6 != count {
		t.Errorf("members got %d IPv4 and %d IPv6 datagrams, want %d each", v4, v6, count)
	}
	// The last echoes reach the client from inside the worker's TX kick,
	// before the worker publishes its counters: on a loaded machine the
	// test may read them first.
	var sent, dropped uint64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		sent, dropped = 0, 0
		for _, q := range ifc.TXStats() {
			sent, dropped = sent+q.Sent, dropped+q.Dropped
		}
		if sent >= 2*count || time.Now().After(deadline) {
			break
		}
	}
	if sent != 2*count || dropped != 0 {
		t.Errorf("TX: sent %d dropped %d, want %d and 0", sent, dropped, 2*count)
	}
	if err := ifc.CheckFrames(); err != nil {
		t.Error(err)
	}
}
