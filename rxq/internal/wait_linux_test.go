package internal

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newPipePoller returns a Poller on the read end of a new pipe (nothing is
// ever written: a Wait whose ready callback says false parks until its
// deadline or Interrupt).
func newPipePoller(t *testing.T) *Poller {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	p, err := NewPoller(fds[0], "pipe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func never(uintptr) bool  { return false }
func always(uintptr) bool { return true }

// TestPollerDeadline checks how Wait reuses the read deadline: an earlier
// deadline still ahead is kept (the wait ends early, never late), a later
// one is replaced, and after Interrupt (which moves the deadline into the
// past) a new one is set rather than the forgotten one kept. Times are
// from just before the first Wait, with generous bounds for a busy
// machine.
func TestPollerDeadline(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name  string
		first time.Duration // deadline set by a Wait that does not park (0: none)
		intr  bool          // Interrupt between the two Waits
		wait  time.Duration // the parking Wait's deadline
		// The parking Wait must return within [min, max] of the start.
		min, max time.Duration
	}{
		{name: "earlier deadline kept", first: 150 * ms, wait: 10 * time.Second, min: 140 * ms, max: 5 * time.Second},
		{name: "later deadline replaced", first: 10 * time.Second, wait: 150 * ms, min: 140 * ms, max: 5 * time.Second},
		{name: "no earlier deadline", wait: 150 * ms, min: 140 * ms, max: 5 * time.Second},
		// Were the interrupted deadline kept, the Wait would end at once
		// (the descriptor's deadline is in the past).
		{name: "interrupt forgets it", first: 200 * ms, intr: true, wait: 400 * ms, min: 390 * ms, max: 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPipePoller(t)
			start := time.Now()
			if tc.first > 0 {
				if err := p.Wait(tc.first, false, always); err != nil {
					t.Fatalf("first wait: %v", err)
				}
			}
			if tc.intr {
				p.Interrupt()
			}
			err := p.Wait(tc.wait-time.Since(start), false, never)
			took := time.Since(start)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("wait: got %v, want os.ErrDeadlineExceeded", err)
			}
			if took < tc.min || took > tc.max {
				t.Errorf("wait returned after %v, want %v to %v", took, tc.min, tc.max)
			}
		})
	}
}

// TestPollerInterruptParked checks that Interrupt ends a parked Wait that
// kept its deadline.
func TestPollerInterruptParked(t *testing.T) {
	p := newPipePoller(t)
	if err := p.Wait(10*time.Second, false, always); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait(20*time.Second, false, never) }()
	time.Sleep(20 * time.Millisecond)
	p.Interrupt()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("got %v, want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Interrupt did not end the wait")
	}
}

// BenchmarkPollerWaitReady measures a Wait that does not park: the cost
// of the deadline (kept) around the ready check. Before the deadline was
// kept: 202-212 ns/op on the 2-vCPU lab machine, 135-138 with it; with
// the caller's time.Now: 124.5-125.3, with one monotonic clock read in
// Wait instead (a timeout, not a deadline): 60.2-60.5.
func BenchmarkPollerWaitReady(b *testing.B) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fds[1])
	p, err := NewPoller(fds[0], "pipe")
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ReportAllocs()
	for b.Loop() {
		// A kept deadline that passes just before the check ends the
		// Wait early (os.ErrDeadlineExceeded), as documented.
		if err := p.Wait(100*time.Millisecond, false, always); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			b.Fatal(err)
		}
	}
}
