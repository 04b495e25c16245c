package dataplane

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// countingClaimer counts Claim and Unclaim calls.
type countingClaimer struct{ claims, unclaims atomic.Int64 }

func (c *countingClaimer) Claim(uint8, netip.Addr, uint16) error   { c.claims.Add(1); return nil }
func (c *countingClaimer) Unclaim(uint8, netip.Addr, uint16) error { c.unclaims.Add(1); return nil }

// atRest fails unless every frame of every source is back in it.
func atRest(t *testing.T, l *lab) {
	t.Helper()
	for _, s := range l.set {
		if fs := s.FrameStats(); fs.Fill+fs.RX+fs.Free != fs.Total {
			t.Errorf("queue %d: %+v: frames out of the source", s.Queue(), fs)
		}
	}
}

// TestPauseDrainResume checks the old side of a takeover: Pause stops the
// workers without losing a ring, Drain lets the endpoint's reader take what
// is queued (or withdraws it from a stalled reader, counted), after which
// every frame is in its source, and Resume serves again, frames that
// arrived meanwhile included.
func TestPauseDrainResume(t *testing.T) {
	for _, tc := range []struct {
		name          string
		reader        bool
		drain         time.Duration
		wantWithdrawn int
	}{
		{"reader takes the queue", true, 2 * time.Second, 0},
		{"stalled reader", false, 20 * time.Millisecond, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claimer := &countingClaimer{}
			l := newLab(t, 2, rxqtest.DefaultOptions(), Config{Claimer: claimer, LocalAddrs: []netip.Addr{netip.MustParseAddr("198.18.0.1")}})
			if err := l.d.Start(); err != nil {
				t.Fatal(err)
			}
			ep := l.bind(udpSpec("198.18.0.1:53", false), EndpointOptions{})
			frame := func(i int) []byte {
				return packettest.UDP4(netip.AddrPortFrom(netip.MustParseAddr("198.19.0.1"), uint16(1024+i)),
					netip.MustParseAddrPort("198.18.0.1:53"), []byte("x"))
			}
			for i := range 100 {
				if !l.inject(frame(i)) {
					t.Fatal("no free frame")
				}
			}
			if err := l.settle(); err != nil {
				t.Fatal(err)
			}
			if err := l.d.Pause(); err != nil {
				t.Fatal(err)
			}
			if err := l.d.Pause(); !errors.Is(err, ErrPaused) {
				t.Errorf("second Pause: %v, want ErrPaused", err)
			}
			for i := 100; i < 150; i++ {
				l.inject(frame(i))
			}
			time.Sleep(20 * time.Millisecond)
			rx := 0
			for _, s := range l.set {
				rx += s.FrameStats().RX
			}
			if rx != 50 {
				t.Errorf("%d frames on the rx rings while paused, want the 50 sent meanwhile", rx)
			}
			var got atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			read := func() {
				batch := make([]Frame, 64)
				for {
					n, err := ep.Receive(ctx, batch)
					if err != nil {
						return
					}
					ep.Release(batch[:n])
					got.Add(int64(n))
				}
			}
			if tc.reader {
				wg.Go(read)
			}
			withdrawn, err := l.d.Drain(tc.drain)
			if err != nil {
				t.Fatal(err)
			}
			if withdrawn != tc.wantWithdrawn {
				t.Errorf("withdrawn %d, want %d", withdrawn, tc.wantWithdrawn)
			}
			if want := int64(100 - tc.wantWithdrawn); got.Load() != want {
				t.Errorf("reader got %d before the hand-over, want %d", got.Load(), want)
			}
			// rx holds the 50; the rest must be on the fill rings or free.
			atRest(t, l)
			if err := l.d.Resume(); err != nil {
				t.Fatal(err)
			}
			if !tc.reader {
				wg.Go(read)
			}
			deadline := time.Now().Add(5 * time.Second)
			for got.Load() != int64(150-tc.wantWithdrawn) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got.Load() != int64(150-tc.wantWithdrawn) {
				t.Errorf("reader got %d after Resume, want %d", got.Load(), 150-tc.wantWithdrawn)
			}
			if cd := l.d.Stats().Totals().ClosedDropped; cd != uint64(tc.wantWithdrawn) {
				t.Errorf("closed_dropped %d, want the %d withdrawn", cd, tc.wantWithdrawn)
			}
			cancel()
			wg.Wait()
			if err := l.settle(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestAbandon checks that a Dataplane handed over closes its endpoints
// without unclaiming what the new process serves, and that Drain and
// Resume need a Pause.
func TestAbandon(t *testing.T) {
	claimer := &countingClaimer{}
	l := newLab(t, 2, rxqtest.DefaultOptions(), Config{Claimer: claimer, LocalAddrs: []netip.Addr{netip.MustParseAddr("198.18.0.1")}})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	ep := l.bind(udpSpec("198.18.0.1:53", false), EndpointOptions{})
	if _, err := l.d.Drain(time.Millisecond); !errors.Is(err, ErrNotPaused) {
		t.Errorf("Drain unpaused: %v, want ErrNotPaused", err)
	}
	if err := l.d.Resume(); !errors.Is(err, ErrNotPaused) {
		t.Errorf("Resume unpaused: %v, want ErrNotPaused", err)
	}
	if err := l.d.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.d.Drain(time.Second); err != nil {
		t.Fatal(err)
	}
	atRest(t, l)
	l.d.Abandon()
	if _, err := ep.Receive(context.Background(), make([]Frame, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Receive after Abandon: %v, want ErrClosed", err)
	}
	if err := ep.Close(); err != nil {
		t.Errorf("Close after Abandon: %v", err)
	}
	if err := l.d.Close(); err != nil {
		t.Errorf("Dataplane.Close after Abandon: %v", err)
	}
	if n := claimer.unclaims.Load(); n != 0 {
		t.Errorf("%d Unclaim calls after Abandon, want none (the new process serves the claims)", n)
	}
	if claimer.claims.Load() == 0 {
		t.Error("the bind claimed nothing: the test checks nothing")
	}
}
