package dataplane

import (
	"sync/atomic"

	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

// slot is one entry of a delivery ring: a frame by reference plus what the
// worker learned about it, so the application never parses it again. When
// the application releases a frame it writes the frame's address back into
// a slot it has already consumed (see ring), with len 0; when it replies in
// place (Endpoint.Reply) it writes the reply's start address and length
// instead, and the worker transmits the frame rather than recycling it.
type slot struct {
	addr   uint64
	len    uint32
	hash   uint32
	l3Off  uint16
	l4Off  uint16
	payOff uint16
	payLen uint16
}

// cacheLinePad keeps the indices written by different goroutines apart.
type cacheLinePad [64]byte

// ring is the delivery ring of one (queue, endpoint): single producer (the
// queue's worker), single consumer (the endpoint's application side, whose
// goroutines take the endpoint's mutex). It carries frames both ways with
// four free-running uint32 indices, slot i living at slots[i&mask]:
//
//	done <= rel <= cons <= prod,  prod-done <= len(slots)
//
//	[cons, prod)  queued: delivered, not yet taken by the application
//	[rel, cons)   held by the application (their slots are spare)
//	[done, rel)   released: the slot holds the address of a frame the
//	              application gave back, for the worker to recycle (len
//	              0) or to transmit (len > 0: a reply built in place)
//
// Frames are released in any order; the application writes each released
// address into the next spare slot (rel), which it consumed earlier, so a
// slot is never written by both sides at once. The worker reuses a slot only
// after recycling what it held (prod-done <= len). One ring therefore bounds
// everything an endpoint keeps of its queue's UMEM, queued or held. The
// worker bounds it further, to the ring's frame budget and its owner's
// (budget.go): a hoarding application sees its drops counted on its own
// endpoint, and other endpoints and the queue's fill ring keep their
// frames.
//
// Memory ordering is that of the kernel's xsk_queue.h: a side writes the
// slots, then publishes its index with an atomic store (release); the other
// side loads the index (acquire) before reading the slots. Go's sync/atomic
// operations are sequentially consistent, which is at least that.
type ring struct {
	// prod is written by the worker (once per batch), read by the application.
	prod atomic.Uint32
	_    cacheLinePad
	// cons and rel are written by the application under the endpoint's
	// mutex, read by the worker.
	cons atomic.Uint32
	rel  atomic.Uint32
	_    cacheLinePad

	// Worker-private. After the dataplane is closed (workers gone), done is
	// guarded by the endpoint's mutex and the queue's post-close mutex.
	prodW     uint32       // producer index not yet published
	done      uint32       // next released slot to recycle
	touched   bool         // in the worker's touched list this batch
	budget    uint32       // prodW-done may reach at most this (budget.go)
	gkey      pcb.GroupKey // its endpoint's local group, if grouped
	grouped   bool
	over      bool // marked overloaded (boundedload.go)
	own       *ownerBudget
	delivered uint64
	dropped   uint64 // ring full
	// overBudget counts frames dropped because the ring or its owner held
	// its frame budget.
	overBudget uint64

	// Run to completion (handler.go), when the endpoint has a Handler: the
	// batch the worker builds and hands to it (cap > 0 marks a handler
	// ring; worker-private), whether the handler is running (read by
	// Reply and Release), whether it panicked and the peers it has still to
	// learn (worker-private).
	hb      []Frame
	hActive atomic.Bool
	hFailed bool
	hpend   []peerEntry // peers to learn when the endpoint's mutex is free

	// Application-private, guarded by the endpoint's mutex.
	consA uint32
	relA  uint32

	// Published counters, written by the worker.
	nDelivered  atomic.Uint64
	nDropped    atomic.Uint64
	nOverBudget atomic.Uint64

	mask  uint32
	slots []slot
	// stage carries datagrams the application built outside the UMEM
	// (WriteTo) to the worker, which copies each into a free frame and
	// transmits it. Created on the first WriteTo to this queue.
	stage atomic.Pointer[txStage]

	ep    *Endpoint
	id    pcb.EndpointID
	queue int
	umem  []byte
}

func newRing(ep *Endpoint, queue int, size int, umem []byte) *ring {
	r := &ring{
		mask:  uint32(size - 1),
		slots: make([]slot, size),
		ep:    ep,
		id:    ep.id,
		queue: queue,
		umem:  umem,
	}
	if ep.opts.Handler != nil {
		r.hb = make([]Frame, 0, rxq.BatchSize)
		r.hpend = make([]peerEntry, 0, rxq.BatchSize)
	}
	return r
}

// handler reports whether r is a run-to-completion ring (handler.go).
func (r *ring) handler() bool { return cap(r.hb) > 0 }

// size returns the number of slots.
func (r *ring) size() uint32 { return r.mask + 1 }

// outstanding returns, for the worker, the frames of this ring not yet back
// in the source: queued, held or released but not recycled.
func (r *ring) outstanding() uint32 { return r.prodW - r.done }

// publish makes the worker's deliveries and counters visible.
func (r *ring) publish() {
	r.prod.Store(r.prodW)
	store(&r.nDelivered, r.delivered)
	store(&r.nDropped, r.dropped)
	store(&r.nOverBudget, r.overBudget)
}
