//go:build linux

package dataplane

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

const ifaceLabPrefix = "xmif"

// openLabInterface opens the lab's receive interface, closed when the test
// ends (before the lab is deleted), and checks no program is left.
func openLabInterface(t *testing.T, lab *netlab.Lab, cfg InterfaceConfig) *Interface {
	t.Helper()
	var ifc *Interface
	cfg.Ifname = lab.RecvIf
	err := lab.InRecv(func() (err error) {
		ifc, err = OpenInterface(cfg)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ifc.Close(); err != nil {
			t.Errorf("interface close: %v", err)
		}
		checkDetached(t, lab)
	})
	return ifc
}

func checkDetached(t *testing.T, lab *netlab.Lab) {
	t.Helper()
	var attached bool
	if err := lab.InRecv(func() (err error) {
		attached, err = xdpprog.Attached(lab.RecvIndex)
		return err
	}); err != nil {
		t.Errorf("xdp attached: %v", err)
	}
	if attached {
		t.Errorf("an XDP program is still attached to %s", lab.RecvIf)
	}
}

func TestOpenInterfaceErrors(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: ifaceLabPrefix})
	tests := []struct {
		name   string
		cfg    InterfaceConfig
		want   []string
		target error
	}{
		{"unknown interface", InterfaceConfig{Ifname: "xmnosuch0"}, []string{`"xmnosuch0"`, "not found"}, rxq.ErrNoInterface},
		{"queue out of range", InterfaceConfig{Ifname: lab.RecvIf, Queues: []int{0, 5}}, []string{lab.RecvIf, "queue 5", "2 rx queues"}, rxq.ErrNoQueue},
		{"negative queue", InterfaceConfig{Ifname: lab.RecvIf, Queues: []int{-1}}, []string{"queue -1"}, rxq.ErrNoQueue},
		{"queue twice", InterfaceConfig{Ifname: lab.RecvIf, Queues: []int{1, 1}}, []string{"queue 1 given twice"}, ErrInvalidConfig},
		{"no queues", InterfaceConfig{Ifname: lab.RecvIf, Queues: []int{}}, []string{"no queues"}, ErrInvalidConfig},
		{"bad socket options", InterfaceConfig{Ifname: lab.RecvIf, Socket: rxq.SocketOptions{NumFrames: 3}}, []string{lab.RecvIf, "NumFrames 3"}, rxq.ErrNotPowerOfTwo},
		{"bad ring size", InterfaceConfig{Ifname: lab.RecvIf, Config: Config{RingSize: 3}}, []string{lab.RecvIf, "ring size 3"}, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := lab.InRecv(func() error {
				ifc, err := OpenInterface(tt.cfg)
				if err == nil {
					ifc.Close()
				}
				return err
			})
			if err == nil {
				t.Fatal("got nil error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !errors.Is(err, tt.target) {
				t.Errorf("error %q is not %v", err, tt.target)
			}
			checkDetached(t, lab)
		})
	}
}

func TestOpenInterfaceSubset(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: ifaceLabPrefix})
	ifc := openLabInterface(t, lab, InterfaceConfig{Queues: []int{1}})
	in := ifc.Info()
	if in.Ifname != lab.RecvIf || len(in.Queues) != 1 || in.Queues[0] != 1 || in.RxQueues != 2 {
		t.Errorf("info %+v: want %s, queues [1] of 2", in, lab.RecvIf)
	}
	if in.XDPMode != "native" {
		t.Errorf("xdp mode %q, want native on veth", in.XDPMode)
	}
	if ifc.Queues() != 1 || ifc.Sockets[0].Queue() != 1 {
		t.Errorf("dataplane queues %d, socket queue %d: want 1, 1", ifc.Queues(), ifc.Sockets[0].Queue())
	}
	st, err := ifc.XDPStats()
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Queue != 0 || st[0].IfQueue != 1 {
		t.Errorf("xdp stats %+v: want one entry, queue 0 = interface queue 1", st)
	}
	if err := ifc.CheckFrames(); err != nil {
		t.Error(err)
	}
	if err := ifc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ifc.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// seqPayload is datagram seq's payload: the sequence number and filler
// bytes derived from it, so a reader can check every byte.
func seqPayload(seq uint64) []byte {
	b := make([]byte, 40)
	binary.BigEndian.PutUint64(b, seq)
	for k := 8; k < len(b); k++ {
		b[k] = byte(seq*7 + uint64(k))
	}
	return b
}

// checkSeq returns the payload's sequence number if every byte is right.
func checkSeq(p []byte) (uint64, bool) {
	if len(p) != 40 {
		return 0, false
	}
	seq := binary.BigEndian.Uint64(p)
	for k := 8; k < len(p); k++ {
		if p[k] != byte(seq*7+uint64(k)) {
			return seq, false
		}
	}
	return seq, true
}

// groupReaders reads a reuseport group, one goroutine per member.
type groupReaders struct {
	seen   []atomic.Uint32 // by sequence number
	got    []atomic.Uint64 // by member
	bad    atomic.Uint64   // payloads that fail checkSeq or are out of range
	dups   atomic.Uint64
	wg     sync.WaitGroup
	errMu  sync.Mutex
	errors []error
}

func startReaders(eps []*Endpoint, maxSeq int) *groupReaders {
	g := &groupReaders{seen: make([]atomic.Uint32, maxSeq), got: make([]atomic.Uint64, len(eps))}
	for m, ep := range eps {
		g.wg.Go(func() {
			batch := make([]Frame, rxq.BatchSize)
			for {
				n, err := ep.Receive(context.Background(), batch)
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						g.errMu.Lock()
						g.errors = append(g.errors, fmt.Errorf("member %d: %w", m, err))
						g.errMu.Unlock()
					}
					return
				}
				for i := range batch[:n] {
					seq, ok := checkSeq(batch[i].Payload)
					if !ok || seq >= uint64(maxSeq) {
						g.bad.Add(1)
						continue
					}
					if g.seen[seq].Add(1) > 1 {
						g.dups.Add(1)
					}
				}
				g.got[m].Add(uint64(n))
				ep.Release(batch[:n])
			}
		})
	}
	return g
}

func (g *groupReaders) total() uint64 {
	var n uint64
	for i := range g.got {
		n += g.got[i].Load()
	}
	return n
}

// flowAccount is what happened to the claimed frames, at one point.
type flowAccount struct {
	redirected, passed  uint64 // program
	sockDropped         uint64 // socket: rx_dropped + rx_ring_full + rx_invalid_descs
	rx                  uint64 // workers
	delivered, ringFull uint64
	closed, unmatched   uint64
	malformed           uint64
	app                 uint64 // taken by the readers
}

func (a flowAccount) drops() uint64 {
	return a.passed + a.sockDropped + a.ringFull + a.closed + a.unmatched + a.malformed
}

func (a flowAccount) String() string {
	return fmt.Sprintf("redirected %d passed %d socket-dropped %d | rx %d delivered %d ring-full %d closed %d unmatched %d malformed %d | app %d",
		a.redirected, a.passed, a.sockDropped, a.rx, a.delivered, a.ringFull, a.closed, a.unmatched, a.malformed, a.app)
}

func account(t *testing.T, ifc *Interface, g *groupReaders) flowAccount {
	t.Helper()
	var a flowAccount
	xs, err := ifc.XDPStats()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range xs {
		a.redirected += q.Program.Redirected
		a.passed += q.Program.Passed
		a.sockDropped += q.Socket.RxDropped + q.Socket.RxRingFull + q.Socket.RxInvalidDescs
	}
	tot := ifc.Stats().Totals()
	a.rx, a.delivered, a.ringFull = tot.RX, tot.Delivered, tot.RingFull
	a.closed, a.unmatched, a.malformed = tot.ClosedDropped, tot.Unmatched, tot.MalformedTotal()
	a.app = g.total()
	return a
}

// settle waits until every frame sent has been accounted for: app +
// drops == sent, or the timeout passes; it returns the last account.
func settle(t *testing.T, ifc *Interface, g *groupReaders, sent uint64) flowAccount {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var a flowAccount
	for {
		a = account(t, ifc, g)
		if a.app+a.drops() >= sent || time.Now().After(deadline) {
			// Stay a little longer to catch double counting.
			time.Sleep(50 * time.Millisecond)
			return account(t, ifc, g)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendSeq sends datagrams [from, to) to dst from SendNS in chunks, with a
// pause between chunks so the receiver keeps up; after is called after each
// chunk with the next sequence number.
func sendSeq(lab *netlab.Lab, dst netip.AddrPort, from, to int, after func(next int)) error {
	ports := make([]uint16, 64)
	for i := range ports {
		ports[i] = uint16(40000 + i)
	}
	const chunk = 250
	for base := from; base < to; base += chunk {
		n := min(chunk, to-base)
		if err := netlab.SendUDP(lab, dst, ports, func(i int) []byte { return seqPayload(uint64(base + i)) }, n); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
		if after != nil {
			after(base + n)
		}
	}
	return nil
}

// TestInterfaceReuseportGroup runs the whole receive path on a veth lab with
// two queues: XDP program, AF_XDP sockets, workers, a reuseport group of 4
// members each read by its own goroutine. Every datagram sent is delivered
// exactly once or counted as dropped, also when a member closes mid-stream.
func TestInterfaceReuseportGroup(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	const (
		members = 4
		n       = 4000
		port    = 7000
	)
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: ifaceLabPrefix})
	ifc := openLabInterface(t, lab, InterfaceConfig{})
	if in := ifc.Info(); len(in.Queues) != 2 || in.XDPMode != "native" || in.SocketMode != "copy" {
		t.Errorf("info %+v: want 2 queues, native XDP, copy-mode sockets", in)
	}
	dst := netip.AddrPortFrom(lab.RecvAddr, port)
	eps := make([]*Endpoint, members)
	for m := range eps {
		ep, err := ifc.Bind(pcb.Spec{Proto: pcb.UDP, Local: dst, ReusePort: true, Owner: testOwner,
			Name: fmt.Sprintf("udp/%s#%d", dst, m)}, EndpointOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eps[m] = ep
	}
	g := startReaders(eps, 2*n)
	defer func() {
		ifc.Close()
		g.wg.Wait()
		for _, err := range g.errors {
			t.Error(err)
		}
	}()

	// Phase 1: every datagram delivered exactly once.
	if err := sendSeq(lab, dst, 0, n, nil); err != nil {
		t.Fatal(err)
	}
	a := settle(t, ifc, g, n)
	t.Logf("phase 1: %v", a)
	if a.app+a.drops() != n || a.redirected+a.passed != n {
		t.Errorf("phase 1: sent %d, app %d + drops %d = %d; program saw %d", n, a.app, a.drops(), a.app+a.drops(), a.redirected+a.passed)
	}
	if a.rx != a.delivered+a.unmatched+a.malformed+a.ringFull {
		t.Errorf("phase 1: worker rx %d != delivered + unmatched + malformed + ring-full", a.rx)
	}
	if a.redirected != a.rx+a.sockDropped {
		t.Errorf("phase 1: redirected %d != worker rx %d + socket drops %d", a.redirected, a.rx, a.sockDropped)
	}
	if a.app != n {
		t.Errorf("phase 1: apps got %d of %d at a moderate rate", a.app, n)
	}
	for m := range g.got {
		if g.got[m].Load() == 0 {
			t.Errorf("phase 1: member %d got no traffic", m)
		}
	}
	for _, q := range ifc.Stats().Queues {
		if q.RX == 0 {
			t.Errorf("phase 1: queue %d received nothing", q.Queue)
		}
	}
	if d, b := g.dups.Load(), g.bad.Load(); d != 0 || b != 0 {
		t.Errorf("phase 1: %d duplicates, %d bad payloads", d, b)
	}
	if err := ifc.CheckFrames(); err != nil {
		t.Error(err)
	}

	// Phase 2: member 0 closes mid-stream.
	closed := false
	err := sendSeq(lab, dst, n, 2*n, func(next int) {
		if !closed && next >= n+n/2 {
			closed = true
			if err := eps[0].Close(); err != nil {
				t.Errorf("close member 0: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	a = settle(t, ifc, g, 2*n)
	t.Logf("phase 2: %v; per member %d %d %d %d", a, g.got[0].Load(), g.got[1].Load(), g.got[2].Load(), g.got[3].Load())
	if a.app+a.drops() != 2*n {
		t.Errorf("phase 2: sent %d != app %d + drops %d", 2*n, a.app, a.drops())
	}
	if a.delivered != a.app+a.closed {
		t.Errorf("phase 2: delivered %d != app %d + closed %d", a.delivered, a.app, a.closed)
	}
	var distinct uint64
	for i := range g.seen {
		if g.seen[i].Load() > 0 {
			distinct++
		}
	}
	if distinct != a.app || g.dups.Load() != 0 || g.bad.Load() != 0 {
		t.Errorf("phase 2: %d distinct sequence numbers, %d taken, %d duplicates, %d bad", distinct, a.app, g.dups.Load(), g.bad.Load())
	}
	if err := ifc.CheckFrames(); err != nil {
		t.Error(err)
	}
}

// The sentinels are defined once (rxq/errors.go): forced zero-copy on a
// veth, refused by rxq, is dataplane's ErrNotSupported too.
func TestOpenInterfaceZeroCopyForceNotSupported(t *testing.T) {
	lab := labtest.NewLab(t, netlab.Config{Queues: 1, Prefix: ifaceLabPrefix + "z"})
	opts := rxq.DefaultSocketOptions()
	opts.ZeroCopy = rxq.ZeroCopyForce
	err := lab.InRecv(func() error {
		ifc, err := OpenInterface(InterfaceConfig{Ifname: lab.RecvIf, Socket: opts})
		if err == nil {
			ifc.Close()
		}
		return err
	})
	for _, target := range []error{ErrNotSupported, rxq.ErrNotSupported, xdpprog.ErrNotSupported} {
		if !errors.Is(err, target) {
			t.Errorf("ZeroCopyForce on veth: got %v, want %v", err, target)
		}
	}
	checkDetached(t, lab)
}
