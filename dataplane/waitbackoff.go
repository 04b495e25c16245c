package dataplane

import (
	"sync/atomic"
	"time"
)

// Bounds of the pause after a failed Source.Wait: the first failure
// pauses waitBackoffMin, each consecutive one twice as long, up to
// waitBackoffMax.
const (
	waitBackoffMin = time.Millisecond
	waitBackoffMax = 500 * time.Millisecond
)

// waitBackoff keeps a worker whose Source.Wait keeps failing (with an
// error other than ErrClosed) from spinning on it: each failure is counted
// (QueueStats.WaitErrors) and followed by a pause that doubles with every
// consecutive failure, and the first Wait that succeeds starts over
// (wireguard-go device/receive.go counts its "death spiral" the same way).
// The worker still polls its source between pauses, and a control message
// (wake) ends a pause early, so a Close is not held up.
type waitBackoff struct {
	errors atomic.Uint64 // written by the worker, read by Stats
	streak int           // consecutive failures; worker-private
	timer  *time.Timer   // created on the first failure
}

// failed counts a failed Wait and returns the pause before the next.
func (b *waitBackoff) failed() time.Duration {
	b.errors.Add(1)
	d := waitBackoffMax
	if b.streak < 20 && waitBackoffMin<<b.streak < waitBackoffMax {
		d = waitBackoffMin << b.streak
	}
	b.streak++
	return d
}

// ok records a Wait that succeeded.
func (b *waitBackoff) ok() { b.streak = 0 }

// pause sleeps d, or until kick fires.
func (b *waitBackoff) pause(d time.Duration, kick <-chan struct{}) {
	if b.timer == nil {
		b.timer = time.NewTimer(d)
	} else {
		b.timer.Reset(d)
	}
	select {
	case <-b.timer.C:
	case <-kick:
		b.timer.Stop()
	}
}
