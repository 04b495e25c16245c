package dataplane

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// handlerFrames returns n UDP frames from distinct peers to dst, each
// payload carrying its index.
func handlerFrames(n int, dst netip.AddrPort) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), uint16(2000+i))
		p := []byte{'p', byte(i >> 8), byte(i)}
		out[i] = packettest.UDP4(src, dst, p, packettest.MACs(peerMAC, localMAC))
	}
	return out
}

// waitFor polls cond until it holds, failing after five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHandler runs handlers that release, reply to or leave their frames,
// beside an ordinary endpoint on the same queue, and checks delivery,
// replies, the Receive contract and that every frame comes back.
func TestHandler(t *testing.T) {
	dst := netip.MustParseAddrPort("198.18.0.1:53")
	other := netip.MustParseAddrPort("198.18.0.1:80")
	tests := []struct {
		name    string
		act     func(ep *Endpoint, frames []Frame, i int) error // nil: leave it to the worker
		prefix  string                                          // replies: the payload's prefix
		replies bool
	}{
		{name: "leave"},
		{name: "release copy", act: func(ep *Endpoint, frames []Frame, i int) error {
			ep.Release([]Frame{frames[i]})
			return nil // the worker's own copy is ignored: no double release
		}},
		{name: "release in batch", act: func(ep *Endpoint, frames []Frame, i int) error {
			ep.Release(frames[i : i+1])
			if frames[i].r != nil {
				return errors.New("Release did not clear the frame")
			}
			return nil
		}},
		{name: "reply in place", replies: true, act: func(ep *Endpoint, frames []Frame, i int) error {
			return ep.Reply(&frames[i], frames[i].Payload)
		}},
		{name: "reply longer", replies: true, prefix: "answer to ", act: func(ep *Endpoint, frames []Frame, i int) error {
			return ep.Reply(&frames[i], append([]byte("answer to "), frames[i].Payload...))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, 2, rxqtest.Options{NumFrames: 1024, FrameSize: 2048, TXRingSize: 256}, Config{})
			var mu sync.Mutex
			seen := map[netip.AddrPort][]byte{}
			var errs []error
			h := func(ep *Endpoint, frames []Frame) {
				mu.Lock()
				defer mu.Unlock()
				if len(frames) == 0 || len(frames) > rxq.BatchSize {
					errs = append(errs, errors.New("bad batch length"))
				}
				for i := range frames {
					f := &frames[i]
					if f.Dst != dst {
						errs = append(errs, errors.New("frame for another endpoint"))
					}
					seen[f.Src] = append([]byte(nil), f.Payload...)
					if tc.act != nil {
						if err := tc.act(ep, frames, i); err != nil {
							errs = append(errs, err)
						}
					}
				}
			}
			hep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{Handler: h})
			plain := l.bind(udpSpec("0.0.0.0:80", false), EndpointOptions{})
			if err := l.d.Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := hep.Receive(context.Background(), make([]Frame, 1)); !errors.Is(err, ErrNotSupported) {
				t.Errorf("Receive on a handler endpoint: got %v, want ErrNotSupported", err)
			}
			if n := hep.TryReceive(make([]Frame, 1)); n != 0 {
				t.Errorf("TryReceive on a handler endpoint: got %d, want 0", n)
			}
			frames := handlerFrames(200, dst)
			perQueue := make([]int, 2)
			for _, f := range frames {
				q := l.steer(f)
				perQueue[q]++
				waitFor(t, "a free frame", func() bool { return l.set[q].Inject(f) })
			}
			if !l.inject(packettest.UDP4(netip.MustParseAddrPort("198.19.9.9:7"), other, []byte("x"), packettest.MACs(peerMAC, localMAC))) {
				t.Fatal("inject failed")
			}
			f := receiveOne(t, plain)
			if f.Dst != other {
				t.Errorf("plain endpoint: got a frame for %v, want %v", f.Dst, other)
			}
			plain.Release([]Frame{f})
			waitFor(t, "the handler to see every frame", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seen) == len(frames)
			})
			mu.Lock()
			for _, err := range errs {
				t.Error(err)
			}
			mu.Unlock()
			if tc.replies {
				for q, n := range perQueue {
					for _, b := range takeSent(t, l.set[q], n) {
						var tup packet.Tuple
						if r := packet.Parse(b, &tup); r != packet.OK {
							t.Fatalf("reply does not parse: %v", r)
						}
						peer := netip.AddrPortFrom(tup.Flow.Dst.Netip(tup.Flow.Family), tup.Flow.DstPort)
						mu.Lock()
						req := seen[peer]
						mu.Unlock()
						checkUDP(t, b, dst, peer, append([]byte(tc.prefix), req...), 0)
					}
				}
			}
			waitTX(t, l.d, 0)
			if err := l.settle(); err != nil {
				t.Fatal(err)
			}
			st := l.d.Stats()
			var got uint64
			for _, e := range st.Endpoints {
				if e.ID == hep.ID() {
					got = e.Delivered
				}
			}
			if got != uint64(len(frames)) {
				t.Errorf("handler endpoint Delivered: got %d, want %d", got, len(frames))
			}
			if err := hep.Close(); err != nil {
				t.Fatal(err)
			}
			if err := l.settle(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHandlerRetained checks that a Frame kept past its handler's return
// is dead: Reply fails with ErrNoFrame, Release ignores it, and no frame
// is lost or given back twice.
func TestHandlerRetained(t *testing.T) {
	l := newLab(t, 1, txOpts(), Config{})
	var mu sync.Mutex
	var kept []Frame
	l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{Handler: func(ep *Endpoint, frames []Frame) {
		mu.Lock()
		kept = append(kept, frames...)
		mu.Unlock()
	}})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	frames := handlerFrames(10, netip.MustParseAddrPort("198.18.0.1:53"))
	for _, f := range frames {
		l.set[0].Inject(f)
	}
	waitFor(t, "frames kept", func() bool { mu.Lock(); defer mu.Unlock(); return len(kept) == len(frames) })
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	ep := l.d.eps[kept[0].r.id]
	if err := ep.Reply(&kept[0], kept[0].Payload); !errors.Is(err, ErrNoFrame) {
		t.Errorf("Reply on a kept frame: got %v, want ErrNoFrame", err)
	}
	ep.Release(kept[1:])
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	if st := l.d.TXStats()[0]; st.Sent != 0 {
		t.Errorf("sent %d frames, want 0", st.Sent)
	}
}

// TestHandlerPanic checks that a panicking handler closes only its own
// endpoint: the queue's other endpoints keep receiving and no frame is
// lost.
func TestHandlerPanic(t *testing.T) {
	l := newLab(t, 1, txOpts(), Config{})
	hep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{Handler: func(*Endpoint, []Frame) { panic("boom") }})
	plain := l.bind(udpSpec("0.0.0.0:80", false), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range handlerFrames(5, netip.MustParseAddrPort("198.18.0.1:53")) {
		l.set[0].Inject(f)
	}
	waitFor(t, "the handler endpoint to close", func() bool {
		for _, e := range l.d.Stats().Endpoints {
			if e.ID == hep.ID() {
				return false
			}
		}
		return true
	})
	if err := hep.HandlerErr(); !errors.Is(err, ErrHandlerPanic) {
		t.Errorf("HandlerErr: got %v, want ErrHandlerPanic", err)
	}
	for _, f := range handlerFrames(3, netip.MustParseAddrPort("198.18.0.1:80")) {
		l.set[0].Inject(f)
	}
	for range 3 {
		f := receiveOne(t, plain)
		plain.Release([]Frame{f})
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	if plain.HandlerErr() != nil {
		t.Errorf("HandlerErr of an endpoint without a handler: %v", plain.HandlerErr())
	}
}

// TestHandlerCred checks that a Handler cannot be bound on behalf of
// another user.
func TestHandlerCred(t *testing.T) {
	l := newLab(t, 1, txOpts(), Config{})
	_, err := l.d.Bind(udpSpec("0.0.0.0:53", false), EndpointOptions{Handler: func(*Endpoint, []Frame) {}, Cred: &Cred{UID: 0}})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bind with Handler and Cred: got %v, want ErrInvalidConfig", err)
	}
}

// TestHandlerAllocs checks that a handler round (receive, hand off, reply
// in place, flush, completion) allocates nothing.
func TestHandlerAllocs(t *testing.T) {
	l := newLab(t, 1, txOpts(), Config{})
	answer := []byte("answer!!")
	replied := 0
	l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{Handler: func(ep *Endpoint, frames []Frame) {
		for i := range frames {
			copy(frames[i].Payload, answer)
			if err := ep.Reply(&frames[i], frames[i].Payload); err == nil {
				replied++
			}
		}
	}})
	w := l.d.workers[0]
	frames := handlerFrames(16, netip.MustParseAddrPort("198.18.0.1:53"))
	round := func() {
		for _, f := range frames {
			l.set[0].Inject(f)
		}
		w.poll()
		if got := l.set[0].TakeSent(nil); got != len(frames) {
			t.Fatalf("sent %d, want %d", got, len(frames))
		}
		w.flush()
	}
	round()
	if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
		t.Errorf("handler round: %v allocs, want 0", allocs)
	}
	if replied != 101*len(frames)+len(frames) {
		t.Errorf("replied %d, want %d", replied, 102*len(frames))
	}
	if err := l.d.CheckFrames(); err != nil {
		t.Fatal(err)
	}
}

// TestHandlerResteer checks that frames queued on a closing member are
// re-steered (Drain) to a handler member of its group, which gets them on
// the worker, and that none is lost.
func TestHandlerResteer(t *testing.T) {
	l := newLab(t, 1, rxqtest.Options{NumFrames: 1024, FrameSize: 2048, TXRingSize: 64}, Config{})
	var mu sync.Mutex
	got := 0
	l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{Handler: func(_ *Endpoint, frames []Frame) {
		mu.Lock()
		got += len(frames)
		mu.Unlock()
	}})
	plain := l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{Drain: true})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	frames := handlerFrames(300, netip.MustParseAddrPort("198.18.0.1:53"))
	for _, f := range frames {
		waitFor(t, "a free frame", func() bool { return l.set[0].Inject(f) })
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	queued := 0
	for _, e := range l.d.Stats().Endpoints {
		if e.ID == plain.ID() {
			queued = int(e.Queued)
		}
	}
	if queued == 0 {
		t.Fatal("no frame went to the plain member: the test proves nothing")
	}
	if err := plain.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got != len(frames) {
		t.Errorf("handler got %d frames, want all %d (%d re-steered)", got, len(frames), queued)
	}
	if st := l.d.Stats().Queues[0]; st.Resteered != uint64(queued) {
		t.Errorf("resteered %d, want %d", st.Resteered, queued)
	}
}

// TestHandlerPeersWhileLocked checks that a handler endpoint's worker does
// not wait for the endpoint's mutex: frames are handled, and released by
// the handler, while an application goroutine holds it, and their senders
// reach the peer cache with a later batch.
func TestHandlerPeersWhileLocked(t *testing.T) {
	l := newLab(t, 1, txOpts(), Config{})
	var mu sync.Mutex
	seen := 0
	ep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{Handler: func(ep *Endpoint, frames []Frame) {
		ep.Release(frames)
		mu.Lock()
		seen += len(frames)
		mu.Unlock()
	}})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	frames := handlerFrames(11, netip.MustParseAddrPort("198.18.0.1:53"))
	ep.mu.Lock()
	for _, f := range frames[:10] {
		l.set[0].Inject(f)
	}
	waitFor(t, "frames handled while the mutex is held", func() bool { mu.Lock(); defer mu.Unlock(); return seen == 10 })
	ep.mu.Unlock()
	l.set[0].Inject(frames[10])
	waitFor(t, "the last frame", func() bool { mu.Lock(); defer mu.Unlock(); return seen == 11 })
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for i := range frames {
		src := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		p, ok := ep.peers.lookup(src)
		if !ok || p.queue != 0 || p.l2Len != 14 {
			t.Errorf("peer %v: got %+v, %v; want learned on queue 0", src, p, ok)
		}
	}
}

// TestHandlerControlCalls checks that a Handler calling a control call that
// waits for the workers gets ErrInHandler instead of deadlocking its queue,
// and that Close from a Handler closes the endpoint asynchronously: its
// handler is not called again and no frame is lost.
func TestHandlerControlCalls(t *testing.T) {
	dst := netip.MustParseAddrPort("198.18.0.1:53")
	tests := []struct {
		name string
		call func(ep *Endpoint) error
	}{
		{"bind", func(ep *Endpoint) error {
			_, err := ep.d.Bind(udpSpec("0.0.0.0:54", false), EndpointOptions{})
			return err
		}},
		{"set policy", func(ep *Endpoint) error { return ep.d.SetPolicy(ep.d.Policy()) }},
		{"check frames", func(ep *Endpoint) error { return ep.d.CheckFrames() }},
		{"pause", func(ep *Endpoint) error { return ep.d.Pause() }},
		{"set local addresses", func(ep *Endpoint) error { return ep.d.SetLocalAddrs(nil) }},
		{"dataplane close", func(ep *Endpoint) error { return ep.d.Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, 1, txOpts(), Config{})
			got := make(chan error, 1)
			l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{Handler: func(ep *Endpoint, frames []Frame) {
				select {
				case got <- tc.call(ep):
				default:
				}
			}})
			if err := l.d.Start(); err != nil {
				t.Fatal(err)
			}
			l.set[0].Inject(handlerFrames(1, dst)[0])
			select {
			case err := <-got:
				if !errors.Is(err, ErrInHandler) {
					t.Errorf("%s from a handler: got %v, want ErrInHandler", tc.name, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s from a handler did not return", tc.name)
			}
			if err := l.settle(); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("endpoint close", func(t *testing.T) {
		l := newLab(t, 1, txOpts(), Config{})
		var mu sync.Mutex
		calls, seen := 0, 0
		var closeErr error
		hep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{Handler: func(ep *Endpoint, frames []Frame) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			seen += len(frames)
			if calls == 1 {
				closeErr = ep.Close()
			}
		}})
		if err := l.d.Start(); err != nil {
			t.Fatal(err)
		}
		frames := handlerFrames(3*rxq.BatchSize, dst)
		l.set[0].Inject(frames[0])
		waitFor(t, "the handler endpoint to close", func() bool {
			for _, e := range l.d.Stats().Endpoints {
				if e.ID == hep.ID() {
					return false
				}
			}
			return true
		})
		for _, f := range frames[1:] {
			l.set[0].Inject(f)
		}
		if err := l.settle(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if closeErr != nil {
			t.Errorf("Close from its handler: %v", closeErr)
		}
		if calls != 1 || seen != 1 {
			t.Errorf("handler called %d times with %d frames, want once with 1", calls, seen)
		}
		if err := hep.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})

	t.Run("not a handler", func(t *testing.T) {
		// Another goroutine calling while a handler runs is not refused.
		l := newLab(t, 1, txOpts(), Config{})
		running, release := make(chan struct{}), make(chan struct{})
		l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{Handler: func(*Endpoint, []Frame) {
			close(running)
			<-release
		}})
		if err := l.d.Start(); err != nil {
			t.Fatal(err)
		}
		l.set[0].Inject(handlerFrames(1, dst)[0])
		<-running
		on := l.d.onHandler()
		close(release)
		if on {
			t.Error("onHandler true on a goroutine that is not a worker")
		}
		if err := l.d.CheckFrames(); err != nil {
			t.Errorf("CheckFrames after the handler: %v", err)
		}
	})
}

func TestGoroutineID(t *testing.T) {
	a := goroutineID()
	if a == 0 || goroutineID() != a {
		t.Fatalf("goroutineID: %d, not stable or zero", a)
	}
	ch := make(chan uint64)
	go func() { ch <- goroutineID() }()
	if b := <-ch; b == a || b == 0 {
		t.Errorf("another goroutine's ID: %d (ours %d)", b, a)
	}
}

// TestHandlerGetters checks that the getters return while a control change
// waits for the handler's own worker: a Bind on another goroutine holds the
// control plane until the handler returns, and the handler reads Stats,
// Policy, GroupMembers, LocalAddrs, Claims, ServerID and QUICLayout
// meanwhile. The getters run on a helper goroutine the handler waits for
// with a deadline, so that a getter that waits for the Bind fails the test
// instead of deadlocking it; they block the worker all the same.
func TestHandlerGetters(t *testing.T) {
	dst := netip.MustParseAddrPort("198.18.0.1:53")
	getters := []struct {
		name string
		call func(ep *Endpoint) bool // false: wrong answer
	}{
		{"Stats", func(ep *Endpoint) bool { return len(ep.d.Stats().Endpoints) >= 1 }},
		{"Policy", func(ep *Endpoint) bool { return ep.d.Policy() == localgroup.Threshold }},
		{"GroupMembers", func(ep *Endpoint) bool { return len(ep.d.GroupMembers(ep)) == 1 }},
		{"LocalAddrs", func(ep *Endpoint) bool { return len(ep.d.LocalAddrs()) == 1 }},
		{"Claims", func(ep *Endpoint) bool { return len(ep.d.Claims()) >= 1 }},
		{"ServerID", func(ep *Endpoint) bool { _, ok := ep.ServerID(); return ok }},
		{"QUICLayout", func(ep *Endpoint) bool { return ep.QUICLayout() == ep.d.auth.Config().QUIC.LB }},
	}
	l := newLab(t, 1, txOpts(), Config{LocalAddrs: []netip.Addr{dst.Addr()}})
	binding := make(chan error, 1)
	var once sync.Once
	var failures []string // written by the handler before done closes
	done := make(chan struct{})
	l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{Handler: func(ep *Endpoint, frames []Frame) {
		once.Do(func() {
			defer close(done)
			go func() {
				_, err := ep.d.Bind(udpSpec("0.0.0.0:54", false), EndpointOptions{})
				binding <- err
			}()
			// The Bind holds ctlMu until this handler returns.
			for deadline := time.Now().Add(5 * time.Second); ep.d.ctlMu.TryLock(); {
				ep.d.ctlMu.Unlock()
				if time.Now().After(deadline) {
					failures = append(failures, "the Bind never took the control plane")
					return
				}
				time.Sleep(time.Millisecond)
			}
			for _, g := range getters {
				ok := make(chan bool, 1)
				go func() { ok <- g.call(ep) }()
				select {
				case good := <-ok:
					if !good {
						failures = append(failures, g.name+" from a handler: wrong answer")
					}
				case <-time.After(2 * time.Second):
					failures = append(failures, g.name+" from a handler waits for the Bind in progress")
					return
				}
			}
		})
	}})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	l.set[0].Inject(handlerFrames(1, dst)[0])
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler never ran")
	}
	for _, f := range failures {
		t.Error(f)
	}
	if err := <-binding; err != nil {
		t.Errorf("Bind beside the handler: %v", err)
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
}
