package dataplane

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

func TestWaitBackoffSchedule(t *testing.T) {
	var b waitBackoff
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 500}
	for i, w := range want {
		if got := b.failed(); got != w*time.Millisecond {
			t.Errorf("failure %d: pause %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	for range 100 {
		if got := b.failed(); got != waitBackoffMax {
			t.Fatalf("after many failures: pause %v, want %v", got, waitBackoffMax)
		}
	}
	if got, want := b.errors.Load(), uint64(len(want)+100); got != want {
		t.Errorf("errors: got %d, want %d", got, want)
	}
	b.ok()
	if got := b.failed(); got != waitBackoffMin {
		t.Errorf("after a success: pause %v, want %v", got, waitBackoffMin)
	}
}

// A source whose Wait keeps failing is counted and backed off from, not
// spun on; the worker still closes promptly, and serves again once Wait
// works.
func TestWorkerWaitErrorBackoff(t *testing.T) {
	l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{})
	src := l.set[0]
	ep := l.bind(udpSpec("198.18.0.1:53", false), EndpointOptions{})
	src.FailWait(errors.New("poll: injected failure"))
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	const window = 300 * time.Millisecond
	time.Sleep(window)
	// 1+2+...+256 ms: at most 9 pauses fit in the window; a spinning
	// worker would have called Wait many thousand times.
	waits := src.Waits()
	st := l.d.Stats().Queues[0]
	if st.WaitErrors < 3 || st.WaitErrors > 12 {
		t.Errorf("WaitErrors after %v of failing Waits: got %d, want 3 to 12", window, st.WaitErrors)
	}
	if waits > 12 {
		t.Errorf("Wait called %d times in %v, want at most 12 (backed off)", waits, window)
	}

	src.FailWait(nil)
	frame := packettest.UDP4(netip.MustParseAddrPort("198.18.1.1:4000"), netip.MustParseAddrPort("198.18.0.1:53"), []byte("x"))
	if !src.Inject(frame) {
		t.Fatal("inject: no free frame")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	batch := make([]Frame, 1)
	n, err := ep.Receive(ctx, batch)
	if err != nil || n != 1 {
		t.Fatalf("receive after Wait recovered: got %d, %v, want 1, nil", n, err)
	}
	ep.Release(batch[:n])

	// A Close during a long pause is not held up by it.
	src.FailWait(errors.New("poll: injected failure"))
	time.Sleep(window)
	start := time.Now()
	if err := l.d.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Close during a backoff pause took %v, want under 100ms", d)
	}
}
