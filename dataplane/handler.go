package dataplane

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
)

// Run to completion (EndpointOptions.Handler, docs/DATAPLANE.md "Run to
// completion"). An endpoint with a Handler has no reader: the queue's worker
// builds each frame delivered to it straight into a per-(queue, endpoint)
// batch of Frames, calls the handler with the batch after each received
// batch, and recycles every frame the handler neither replied with nor
// released when it returns. No delivery ring hand-off, no goroutine wake-up,
// no mutex on the frame's way: a reply goes onto the worker's TX batch at
// once.
//
// The handler runs on the worker goroutine and holds up its queue, every
// endpoint of that queue included, for as long as it runs. That is why only
// the embedding process may install one (Bind refuses a Handler together
// with a Cred, which is how binds on behalf of others, the control
// socket's, are made), and why a panic is contained: the worker recovers
// it, closes the endpoint (asynchronously, from another goroutine) and
// goes on serving the queue's other endpoints.

// Handler is an endpoint's run-to-completion function (EndpointOptions).
// The queue's worker calls it with the frames of one received batch that
// went to ep on that queue; frames is never empty and holds at most
// rxq.BatchSize frames. The frames are valid during the call only, and
// only on the calling goroutine: the handler may read and change them,
// Reply to any of them (the reply goes to the TX ring at the next flush),
// or Release them; the worker releases the rest when it returns. A Frame
// kept past the return is dead: Reply then fails with ErrNoFrame and
// Release ignores it.
//
// The handler must not block: it delays every endpoint of its queue.
// The control calls that wait for the workers (Bind, Dataplane.Close,
// Pause, CheckFrames, the Set methods) fail with ErrInHandler when a
// handler calls them, since the worker running it could never answer;
// Endpoint.Close of any endpoint starts the close and returns (the
// endpoint receives nothing more once the handler returns). The getters
// that read the control state (Stats, Policy, GroupMembers, LocalAddrs,
// Claims, ServerID, QUICLayout) may be called: a control change in
// progress holds their lock only while it edits the state, never while it
// waits for the workers.
// WriteTo, SendIP and SendFrame are allowed but stall the queue when their
// stage is full.
type Handler func(ep *Endpoint, frames []Frame)

var (
	errHandlerReceive = fmt.Errorf("receive: %w: the endpoint has a Handler, which receives its frames", ErrNotSupported)
	errHandlerCred    = fmt.Errorf("%w: a Handler runs on a queue's worker with the process's rights, so it cannot be bound on behalf of another (Cred set)", ErrInvalidConfig)
)

// ErrHandlerPanic is returned (wrapped) by Endpoint.HandlerErr after the
// endpoint's Handler panicked; the worker recovered and closed the
// endpoint.
var ErrHandlerPanic = errors.New("handler panicked")

// handOff puts the frame s describes into r's handler batch; a full batch
// is handed to the handler at once. The frame's delivery has been counted.
// Worker only.
func (w *worker) handOff(r *ring, s *slot) deliverResult {
	if r.hFailed {
		r.dropped++
		return ringFull
	}
	n := len(r.hb)
	if n == 0 {
		w.handled = append(w.handled, r)
	}
	r.hb = r.hb[:n+1]
	f := &r.hb[n]
	r.frame(s, f)
	f.hi = uint16(n)
	r.delivered++
	if n+1 == cap(r.hb) {
		w.runHandler(r)
	}
	return delivered
}

// runHandlers hands every pending handler batch to its handler. It is
// called at the end of each received batch and before each flush.
func (w *worker) runHandlers() {
	for i, r := range w.handled {
		if len(r.hb) > 0 {
			w.runHandler(r)
		}
		w.handled[i] = nil
	}
	w.handled = w.handled[:0]
}

// runHandler calls r's handler with its batch, then recycles what the
// handler left. r.hb is not empty.
func (w *worker) runHandler(r *ring) {
	hb := r.hb
	e := r.ep
	w.learnPeers(r, e, hb)
	if e.closing.Load() {
		// Closed by a handler (Close from a Handler): the unbind is on its
		// way; what arrives meanwhile is dropped, as Close would.
		r.dropped += uint64(len(hb))
	} else {
		r.hActive.Store(true)
		w.inHandler.Store(w.gid)
		w.callHandler(r, e, hb)
		w.inHandler.Store(0)
		r.hActive.Store(false)
	}
	for i := range hb {
		f := &hb[i]
		if f.r != nil {
			w.recycleAddr(f.addr)
			*f = Frame{}
		}
	}
	r.hb = hb[:0]
}

// learnPeers enters the senders of hb in e's peer cache. The worker never
// waits for e's mutex (an application goroutine, or the other queues'
// workers, may hold it): when it is taken, the entries wait in r's
// pending list, bounded, until a later batch gets the mutex; a full list
// forgets the newest, as a cache may.
func (w *worker) learnPeers(r *ring, e *Endpoint, hb []Frame) {
	if !e.mu.TryLock() {
		for i := range hb {
			f := &hb[i]
			if len(r.hpend) == cap(r.hpend) {
				break
			}
			if l2 := int(f.l3); l2 <= maxL2 && l2 >= minFrame {
				r.hpend = r.hpend[:len(r.hpend)+1]
				r.hpend[len(r.hpend)-1].set(f)
			}
		}
		return
	}
	for i := range r.hpend {
		e.peers.install(r.hpend[i])
	}
	r.hpend = r.hpend[:0]
	for i := range hb {
		e.peers.learn(&hb[i])
	}
	e.mu.Unlock()
}

// callHandler calls the handler, containing a panic: the endpoint is
// marked failed (its later frames are dropped and counted) and closed from
// another goroutine, since Close waits for this worker.
func (w *worker) callHandler(r *ring, e *Endpoint, hb []Frame) {
	defer func() {
		if p := recover(); p != nil {
			r.hFailed = true
			err := fmt.Errorf("endpoint %s, queue %d: %w: %v\n%s", e.name, w.queue, ErrHandlerPanic, p, debug.Stack())
			e.hErr.CompareAndSwap(nil, &err)
			go e.Close()
		}
	}()
	e.opts.Handler(e, hb)
}

// HandlerErr returns nil, or, after the endpoint's Handler panicked, an
// error wrapping ErrHandlerPanic with the panic's value and stack.
func (e *Endpoint) HandlerErr() error {
	if p := e.hErr.Load(); p != nil {
		return *p
	}
	return nil
}

// hbLive reports whether f, a frame of handler ring r or a copy of one, is
// still in the batch its handler is running with: neither released nor
// replied with, and the handler not returned. Called on the worker.
func (r *ring) hbLive(f *Frame) bool {
	if !r.hActive.Load() || int(f.hi) >= len(r.hb) {
		return false
	}
	b := &r.hb[f.hi]
	return b.r == r && b.addr == f.addr
}

// handlerRelease releases f, a frame of a handler ring, on the worker
// running the handler: it goes back to the source with the worker's next
// recycle. The batch's own copy is cleared, so that the frame is released
// once whichever copy the handler passed; a dead frame is ignored.
func (e *Endpoint) handlerRelease(r *ring, f *Frame) {
	if r.hbLive(f) {
		e.d.workers[r.queue].recycleAddr(f.addr)
		r.hb[f.hi] = Frame{}
	}
	*f = Frame{}
}

// onHandler reports whether the calling goroutine is a worker of d running
// a Handler. It costs a load per queue unless a handler is running.
func (d *Dataplane) onHandler() bool {
	var self uint64
	for _, w := range d.workers {
		g := w.inHandler.Load()
		if g == 0 {
			continue
		}
		if self == 0 {
			self = goroutineID()
		}
		if g == self {
			return true
		}
	}
	return false
}

// lockCtl takes ctlMu for a control call that waits for the workers, or
// fails with ErrInHandler when a Handler is the caller: op names the call.
func (d *Dataplane) lockCtl(op string) error {
	if d.onHandler() {
		return fmt.Errorf("%s: %w", op, ErrInHandler)
	}
	d.ctlMu.Lock()
	return nil
}

// goroutineID returns the calling goroutine's ID, from the first line of
// its stack trace ("goroutine 7 [running]:"), the only place the runtime
// gives it. A worker reads its own once; others only while a handler runs.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("dataplane: cannot read the goroutine ID: " + err.Error())
	}
	return id
}
