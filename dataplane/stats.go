package dataplane

import (
	"errors"
	"fmt"
	"slices"

	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

// QueueStats are one queue's counters. Every received frame is counted once
// in RX and once in exactly one of Delivered, Unmatched, Malformed,
// RingFull or OverBudget. A delivered frame is then taken by the application, dropped
// when its endpoint closes (ClosedDropped) or moved to another member of the
// group (Resteered, after which it is taken or dropped in turn).
type QueueStats struct {
	Queue     int
	RX        uint64
	Delivered uint64
	Unmatched uint64
	Malformed [packet.NumReasons]uint64 // by reason; index OK is unused
	RingFull  uint64
	// OverBudget counts frames dropped because their endpoint, or its
	// owner, held its budget of the queue's frames (docs/DATAPLANE.md).
	OverBudget    uint64
	ClosedDropped uint64
	Resteered     uint64
	// FillEmpty is what the source lost before the worker saw it for want
	// of a free frame (the kernel's rx_fill_ring_empty_descs), if the
	// source reports it.
	FillEmpty uint64
	// FlowKept counts frames that bounded load (Config.BoundedLoad) kept
	// on their flow's member where the pick chose another; FlowEvicted
	// counts live flows the flow table forgot for want of room.
	FlowKept, FlowEvicted uint64
	// HashNIC and HashSoftware count the frames whose hash came from the
	// NIC (Config.Hash "nic", metadata valid) and from the software
	// Toeplitz hash: every frame that parsed, once.
	HashNIC, HashSoftware uint64
	// WaitErrors counts the source's Waits that failed with an error
	// other than ErrClosed; the worker backs off after each.
	WaitErrors uint64
}

// MalformedTotal returns the sum of Malformed.
func (s *QueueStats) MalformedTotal() uint64 {
	var n uint64
	for _, v := range s.Malformed {
		n += v
	}
	return n
}

// EndpointStats are one open endpoint's counters, summed over the queues.
type EndpointStats struct {
	ID        pcb.EndpointID
	Name      string
	Spec      string
	Delivered uint64 // frames put on its rings, re-steered ones included
	// Dropped counts every frame lost for this endpoint: its ring was full
	// or it held its frame budget (OverBudget, included here).
	Dropped    uint64
	OverBudget uint64 // frames lost because it or its owner held its frame budget
	Queued     uint64 // frames on its rings, not yet received
	// ReusePort and DualStack are the endpoint's bind flags.
	ReusePort, DualStack bool
}

// Stats is a snapshot of the dataplane's counters.
type Stats struct {
	Queues    []QueueStats
	Endpoints []EndpointStats // open endpoints, by ID
}

// Stats returns a snapshot of the counters. It is cheap: it reads what the
// workers published after their last batch, and does not stop them.
func (d *Dataplane) Stats() Stats {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	var st Stats
	for q, w := range d.workers {
		p := &w.pub
		qs := QueueStats{
			Queue:         q,
			RX:            p.rx.Load(),
			Delivered:     p.delivered.Load(),
			Unmatched:     p.unmatched.Load(),
			RingFull:      p.ringFull.Load(),
			OverBudget:    p.overBudget.Load(),
			FlowKept:      p.flowKept.Load(),
			FlowEvicted:   p.flowEvicted.Load(),
			HashNIC:       p.hashNIC.Load(),
			HashSoftware:  p.hashSoftware.Load(),
			ClosedDropped: p.closedDropped.Load(),
			Resteered:     p.resteered.Load(),
		}
		for i := range qs.Malformed {
			qs.Malformed[i] = p.malformed[i].Load()
		}
		if fe, ok := w.src.(rxq.FillEmptier); ok {
			qs.FillEmpty = fe.FillEmpty()
		}
		qs.WaitErrors = w.waitBO.errors.Load()
		st.Queues = append(st.Queues, qs)
	}
	for _, ep := range d.eps {
		if ep == nil {
			continue
		}
		es := EndpointStats{ID: ep.id, Name: ep.name, Spec: ep.spec.String(),
			ReusePort: ep.spec.ReusePort, DualStack: ep.spec.DualStack}
		for _, r := range ep.rings {
			es.Delivered += r.nDelivered.Load()
			ob := r.nOverBudget.Load()
			es.Dropped += r.nDropped.Load() + ob
			es.OverBudget += ob
			es.Queued += uint64(r.prod.Load() - r.cons.Load())
		}
		st.Endpoints = append(st.Endpoints, es)
	}
	slices.SortFunc(st.Endpoints, func(a, b EndpointStats) int { return int(a.ID) - int(b.ID) })
	return st
}

// Totals sums the queue counters.
func (s Stats) Totals() QueueStats {
	t := QueueStats{Queue: -1}
	for _, q := range s.Queues {
		t.RX += q.RX
		t.Delivered += q.Delivered
		t.Unmatched += q.Unmatched
		t.RingFull += q.RingFull
		t.OverBudget += q.OverBudget
		t.ClosedDropped += q.ClosedDropped
		t.Resteered += q.Resteered
		t.FillEmpty += q.FillEmpty
		t.FlowKept += q.FlowKept
		t.FlowEvicted += q.FlowEvicted
		t.HashNIC += q.HashNIC
		t.HashSoftware += q.HashSoftware
		for i := range t.Malformed {
			t.Malformed[i] += q.Malformed[i]
		}
	}
	return t
}

// ErrFrameLeak is returned (wrapped) by CheckFrames when frames are missing
// or counted twice.
var ErrFrameLeak = errors.New("frame accounting mismatch")

// CheckFrames verifies, for every queue, that the source's frames (fill,
// rx, free) plus those held by the worker plus those on delivery rings
// (queued, held by applications, released but not yet recycled) plus those
// on their way out (TX and completion rings) add up to
// the UMEM's frame count (SPEC section 1). Each worker counts between two
// batches, so CheckFrames may run while traffic flows; after Close it
// counts directly.
func (d *Dataplane) CheckFrames() error {
	if err := d.lockCtl("check frames"); err != nil {
		return err
	}
	defer d.ctlMu.Unlock()
	var acc []frameAccount
	if d.started && !d.closed {
		m := &ctlMsg{op: msgAccount}
		d.broadcast(m)
		acc = m.account
	} else {
		acc = make([]frameAccount, len(d.workers))
		for q, w := range d.workers {
			d.postMu[q].Lock()
			acc[q] = w.account()
			d.postMu[q].Unlock()
		}
	}
	var errs []error
	for q, a := range acc {
		if got := a.sum(); got != a.src.Total {
			errs = append(errs, fmt.Errorf("%w: queue %d: fill %d + rx %d + free %d + worker %d + rings %d (queued %d, held %d, released %d) + tx %d = %d, want %d",
				ErrFrameLeak, q, a.src.Fill, a.src.RX, a.src.Free, a.worker, a.rings, a.queued, a.held, a.released, a.tx, got, a.src.Total))
		}
	}
	return errors.Join(errs...)
}
