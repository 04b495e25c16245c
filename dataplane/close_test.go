package dataplane

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// injectTo53 injects n UDP frames to 198.18.0.1:53 from varied sources.
func injectTo53(t *testing.T, l *lab, n int, base uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(base, 1))
	for i := range n {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(rng.Uint32()), byte(rng.Uint32())}), uint16(1024+rng.IntN(60000)))
		var p [8]byte
		p[7] = byte(i)
		if !l.inject(packettest.UDP4(src, netip.MustParseAddrPort("198.18.0.1:53"), p[:])) {
			t.Fatalf("frame %d: no free frame", i)
		}
	}
}

func drain(ep *Endpoint) int {
	batch := make([]Frame, 64)
	total := 0
	for {
		n := ep.TryReceive(batch)
		if n == 0 {
			return total
		}
		total += n
		ep.Release(batch[:n])
	}
}

func TestCloseMember(t *testing.T) {
	for _, drainOpt := range []bool{false, true} {
		t.Run(fmt.Sprintf("drain=%v", drainOpt), func(t *testing.T) {
			l := newLab(t, 2, rxqtest.Options{NumFrames: 1024, FrameSize: 2048}, Config{})
			if err := l.d.Start(); err != nil {
				t.Fatal(err)
			}
			spec := udpSpec("0.0.0.0:53", true)
			a := l.bind(spec, EndpointOptions{Drain: drainOpt})
			b := l.bind(spec, EndpointOptions{})
			injectTo53(t, l, 400, 1)
			if err := l.settle(); err != nil {
				t.Fatal(err)
			}
			// a holds a few frames across its Close.
			held := make([]Frame, 3)
			if n := a.TryReceive(held); n != 3 {
				t.Fatalf("a: got %d frames, want 3", n)
			}
			queuedA := l.d.Stats().Endpoints[0].Queued
			if queuedA == 0 {
				t.Fatal("nothing queued on a")
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if err := a.Close(); err != nil {
				t.Fatalf("second close: %v", err)
			}
			if n := a.TryReceive(make([]Frame, 8)); n != 0 {
				t.Fatalf("receive after close: got %d frames", n)
			}
			if _, err := a.Receive(context.Background(), make([]Frame, 8)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Receive after close: got %v, want ErrClosed", err)
			}
			tot := l.d.Stats().Totals()
			if drainOpt {
				if tot.Resteered != queuedA || tot.ClosedDropped != 0 {
					t.Errorf("got resteered %d dropped %d, want %d 0", tot.Resteered, tot.ClosedDropped, queuedA)
				}
			} else if tot.ClosedDropped != queuedA || tot.Resteered != 0 {
				t.Errorf("got dropped %d resteered %d, want %d 0", tot.ClosedDropped, tot.Resteered, queuedA)
			}
			if err := l.d.CheckFrames(); err != nil {
				t.Fatal(err)
			}
			// The held frames stay valid and go back on Release.
			for i := range held {
				if held[i].Dst.Port() != 53 || len(held[i].Payload) != 8 {
					t.Errorf("held frame %d damaged: %+v", i, held[i])
				}
			}
			a.Release(held)
			injectTo53(t, l, 200, 2)
			if err := l.settle(); err != nil {
				t.Fatal(err)
			}
			gotB := drain(b)
			want := 400 - 3 - int(queuedA) + 200
			if drainOpt {
				want += int(queuedA)
			}
			if gotB != want {
				t.Errorf("b received %d frames, want %d", gotB, want)
			}
			if tot := l.d.Stats().Totals(); tot.RX != 600 || tot.Delivered != 600 {
				t.Errorf("totals: %+v", tot)
			}
			if err := l.settle(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRingFullAndHoarding(t *testing.T) {
	l := newLab(t, 1, rxqtest.Options{NumFrames: 256, FrameSize: 2048}, Config{RingSize: 16, LockOSThread: true})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	ep := l.bind(udpSpec("198.18.0.1:53", false), EndpointOptions{})
	// The application takes 10 frames and holds them: the ring has room
	// for 6 more; the rest is dropped, and the queue never runs dry.
	injectTo53(t, l, 10, 1)
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	held := make([]Frame, 16)
	if n := ep.TryReceive(held); n != 10 {
		t.Fatalf("got %d frames, want 10", n)
	}
	injectTo53(t, l, 100, 2)
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	st := l.d.Stats()
	if got := st.Queues[0].RingFull; got != 94 {
		t.Errorf("ring full: got %d, want 94", got)
	}
	if e := st.Endpoints[0]; e.Dropped != 94 || e.Queued != 6 || e.Delivered != 16 {
		t.Errorf("endpoint stats: %+v", e)
	}
	ep.Release(held[:10])
	if got := drain(ep); got != 6 {
		t.Errorf("drained %d, want 6", got)
	}
	injectTo53(t, l, 16, 3)
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	if got := drain(ep); got != 16 {
		t.Errorf("after release: drained %d, want 16", got)
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
}

type fakeClaimer struct {
	mu     sync.Mutex
	log    []string
	failOn uint16
}

func (c *fakeClaimer) Claim(proto uint8, addr netip.Addr, port uint16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if port == c.failOn {
		return errors.New("map full")
	}
	c.log = append(c.log, fmt.Sprintf("claim %d/%s", proto, netip.AddrPortFrom(addr, port)))
	return nil
}

func (c *fakeClaimer) Unclaim(proto uint8, addr netip.Addr, port uint16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, fmt.Sprintf("unclaim %d/%s", proto, netip.AddrPortFrom(addr, port)))
	return nil
}

// takeLog returns the operations logged since the last call.
func (c *fakeClaimer) takeLog() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.log
	c.log = nil
	return l
}

func TestClaimer(t *testing.T) {
	c := &fakeClaimer{failOn: 666}
	local := []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:2::1")}
	l := newLab(t, 2, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{Claimer: c, LocalAddrs: local})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	a := l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{})
	b := l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{})
	tc := l.bind(tcpSpec("[::]:53", false), EndpointOptions{})
	if _, err := l.d.Bind(udpSpec("0.0.0.0:53", false), EndpointOptions{}); !errors.Is(err, pcb.ErrAddrInUse) {
		t.Errorf("overlapping bind: got %v, want ErrAddrInUse", err)
	}
	other := udpSpec("0.0.0.0:53", true)
	other.Owner = "someone else"
	if _, err := l.d.Bind(other, EndpointOptions{}); !errors.Is(err, pcb.ErrAddrInUse) {
		t.Errorf("other owner's bind: got %v, want ErrAddrInUse", err)
	}
	if _, err := l.d.Bind(udpSpec("0.0.0.0:666", false), EndpointOptions{}); err == nil {
		t.Error("bind with failing claim succeeded")
	}
	if _, err := l.d.Bind(udpSpec("0.0.0.0:54", false), EndpointOptions{RingSize: 3}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ring size 3: got %v, want ErrInvalidConfig", err)
	}
	a.Close()
	b.Close()
	tc.Close()
	want := []string{"claim 17/198.18.0.1:53", "claim 6/[2001:2::1]:53", "unclaim 17/198.18.0.1:53", "unclaim 6/[2001:2::1]:53"}
	if !slices.Equal(c.log, want) {
		t.Errorf("claims: got %q, want %q", c.log, want)
	}
	// IDs are reused once free.
	e := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	if e.ID() > 3 {
		t.Errorf("ID not reused: %d", e.ID())
	}
	l.d.Close()
	if got := c.log[len(c.log)-1]; got != "unclaim 17/198.18.0.1:53" {
		t.Errorf("close: last claim op %q, want unclaim 17/198.18.0.1:53", got)
	}
	if _, err := l.d.Bind(udpSpec("0.0.0.0:55", false), EndpointOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("bind after close: got %v, want ErrClosed", err)
	}
}

func TestReceiveBlocksAndPacketConn(t *testing.T) {
	l := newLab(t, 2, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{CPUs: []int{0}})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	ep := l.bind(udpSpec("198.18.0.1:53", false), EndpointOptions{})
	pc := ep.PacketConn()
	if got := pc.LocalAddr().String(); got != "198.18.0.1:53" {
		t.Errorf("local addr %q", got)
	}
	if err := pc.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_, _, err := pc.ReadFrom(buf)
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past deadline: got %v, want a timeout", err)
	}
	pc.SetReadDeadline(time.Time{})
	go func() {
		time.Sleep(10 * time.Millisecond)
		l.inject(packettest.UDP4(netip.MustParseAddrPort("198.19.0.7:4444"), netip.MustParseAddrPort("198.18.0.1:53"), []byte("hello")))
	}()
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" || from.String() != "198.19.0.7:4444" {
		t.Fatalf("ReadFrom: got %q from %v, %v", buf[:n], from, err)
	}
	if _, err := pc.WriteTo(buf, from); !errors.Is(err, ErrNotSupported) {
		t.Errorf("WriteTo: got %v, want ErrNotSupported", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := ep.Receive(ctx, make([]Frame, 4)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive: got %v, want context.DeadlineExceeded", err)
	}
	done := make(chan error)
	go func() {
		_, _, err := pc.ReadFrom(buf)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	pc.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("ReadFrom during close: got %v, want ErrClosed", err)
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
}
