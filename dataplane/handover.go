package dataplane

import (
	"errors"
	"fmt"
	"time"
)

// A takeover (xdpmux run -takeover) moves a running Dataplane's sources
// to another process without losing a frame. The old side's sequence:
//
//	Pause         workers stop between two batches; the control plane is held
//	Drain         endpoints take what is queued for them (the control
//	              socket's pumps deliver it to their clients); what is left
//	              after the timeout is withdrawn and counted (closed_dropped);
//	              every frame is back in its source
//	(hand-over)   the sources are handed over, at rest
//	Resume        if the other side failed: the workers start again
//	Abandon       if it succeeded: the Dataplane is closed without telling
//	              the Claimer (the other side serves those claims now)
//
// Frames queued on endpoints are delivered before the hand-over rather
// than moved: the endpoints' applications are this process's (command-line
// sinks, control-socket pumps), and only the rings' frames (fill, rx) can
// change hands.

var (
	// ErrPaused is returned (wrapped) by Pause when the Dataplane is
	// paused already.
	ErrPaused = errors.New("dataplane paused for a hand-over")
	// ErrNotPaused is returned (wrapped) by Drain and Resume when the
	// Dataplane is not paused.
	ErrNotPaused = errors.New("dataplane not paused")
)

// Pause stops every worker between two batches, keeping every endpoint and
// its rings, and holds the control plane: binds and closes wait until
// Resume or Abandon, which only the pausing goroutine calls (as it does
// Drain); the getters (Stats, Claims, ...) still answer. Pausing a paused
// Dataplane fails with ErrPaused. Frames keep arriving on the sources (the
// kernel's rx rings) meanwhile.
func (d *Dataplane) Pause() error {
	if d.paused.Load() {
		return fmt.Errorf("pause: %w", ErrPaused)
	}
	if err := d.lockCtl("pause"); err != nil {
		return err
	}
	if d.closed {
		d.ctlMu.Unlock()
		return fmt.Errorf("pause: %w", ErrClosed)
	}
	d.paused.Store(true)
	if d.started {
		d.broadcast(&ctlMsg{op: msgPause})
		d.wg.Wait()
	}
	return nil
}

// Drain, while paused, waits up to timeout for the endpoints to take the
// frames queued on them and to release them, collecting the releases as
// the workers would; then it withdraws what is still queued (counted as
// closed_dropped, and returned). Frames an application still holds after
// that make it fail: they cannot go back to their source. On success every
// frame of every queue is back in its source.
func (d *Dataplane) Drain(timeout time.Duration) (withdrawn int, err error) {
	if !d.paused.Load() {
		return 0, fmt.Errorf("drain: %w", ErrNotPaused)
	}
	deadline := time.Now().Add(timeout)
	for !d.drained() && time.Now().Before(deadline) {
		time.Sleep(200 * time.Microsecond)
	}
	for _, w := range d.workers {
		for _, r := range w.allRings() {
			r.ep.mu.Lock()
			cons := r.cons.Load() // the readers take frames under ep.mu
			n := r.prodW - cons
			if n != 0 {
				r.own.held -= n
				for i := cons; i != r.prodW; i++ {
					w.c.closedDropped++
					w.recycleAddr(r.slots[i&r.mask].addr)
				}
				r.prodW = cons
				r.publish()
				withdrawn += int(n)
			}
			r.ep.mu.Unlock()
		}
		w.flush()
	}
	// Held frames come back within a batch's processing; give them a
	// moment more.
	held := time.Now().Add(timeout)
	for !d.drained() {
		if time.Now().After(held) {
			return withdrawn, fmt.Errorf("drain: endpoints still hold frames after %v", 2*timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return withdrawn, nil
}

// drained collects every queue's releases and reports whether no ring has
// a frame out. The workers are paused: this goroutine stands in for them.
func (d *Dataplane) drained() bool {
	done := true
	for _, w := range d.workers {
		w.collectReturns()
		w.flush()
		for _, r := range w.allRings() {
			if r.outstanding() != 0 {
				done = false
			}
		}
		if len(w.recycle) != 0 || w.tx.inflight != 0 {
			done = false
		}
	}
	return done
}

// Resume restarts the workers of a paused Dataplane and frees the control
// plane: the hand-over did not happen.
func (d *Dataplane) Resume() error {
	if !d.paused.Load() {
		return fmt.Errorf("resume: %w", ErrNotPaused)
	}
	d.paused.Store(false)
	if d.started {
		for _, w := range d.workers {
			d.wg.Add(1)
			go w.run()
		}
	}
	d.ctlMu.Unlock()
	return nil
}

// Abandon closes a Dataplane whose sources another process serves now,
// pausing it first unless paused: every endpoint is closed (their readers
// see ErrClosed), no worker runs again, and the Claimer is not told to
// unclaim anything. Only the goroutine that paused it may call it.
func (d *Dataplane) Abandon() {
	if !d.paused.Load() && d.Pause() != nil {
		return // closed already
	}
	d.paused.Store(false)
	d.closed = true
	for _, ep := range d.eps {
		if ep != nil {
			ep.markClosed()
		}
	}
	for _, w := range d.workers {
		for _, r := range w.allRings() {
			r.ep.mu.Lock()
			r.ep.postClose = true
			r.ep.mu.Unlock()
		}
	}
	d.stateMu.Lock()
	clear(d.claims)
	clear(d.epClaims)
	clear(d.eps)
	d.stateMu.Unlock()
	d.ctlMu.Unlock()
}

// claimedLocked reports whether the Dataplane holds a claim on (proto,
// addr, port). ctlMu held.
func (d *Dataplane) claimedLocked(k claimKey) bool { return d.claims[k] > 0 }
