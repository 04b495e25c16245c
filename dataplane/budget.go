package dataplane

import (
	"fmt"

	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

// Frame budgets (docs/DATAPLANE.md): no endpoint, and no owner, can take
// so many of a queue's UMEM frames that another endpoint or the fill ring
// goes without.
//
// Per queue, FrameReserve frames are never lent to endpoints; the rest,
// usable, is shared. Each owner with bound endpoints may hold
//
//	share = max(usable / owners, floor)
//
// frames of the queue, and each of its endpoints
//
//	budget = min(ring size, max(share / the owner's endpoints, floor))
//
// where "hold" is a ring's outstanding frames (prodW - done: queued, held
// by the application, released and not yet collected), and an owner's is
// the sum over its rings of the queue, closed endpoints' frames still out
// included. A frame that would take a ring or its owner past the budget is
// dropped and counted on that endpoint (OverBudget) and on the queue. The
// shares are recomputed by the worker when it applies a bind or an unbind,
// never per frame; per frame, deliver compares twice and counts once.

// minReserve is the least default reserve: what one poll takes.
const minReserve = pollBatches * rxq.BatchSize

// DefaultFrameReserve returns the reserve of a queue of total frames when
// Config.FrameReserve is 0: an eighth, at least pollBatches*rxq.BatchSize
// (256), at most half.
func DefaultFrameReserve(total int) int {
	r := max(total/8, minReserve)
	return min(r, total/2)
}

// DefaultEndpointFloor is the least budget of an endpoint (and share of an
// owner) when Config.EndpointFloor is 0: one batch.
const DefaultEndpointFloor = rxq.BatchSize

// frameBudget is a worker's view of its queue's frames. Worker-private.
type frameBudget struct {
	usable uint32 // frames shared among owners: total - reserve
	floor  uint32
	owners map[pcb.Owner]*ownerBudget
}

// ownerBudget is one owner's share of a queue's frames. Worker-private.
type ownerBudget struct {
	held  uint32 // Σ prodW-done over the owner's rings of the queue
	share uint32 // held may reach at most share
	eps   int    // bound endpoints (rings in active)
	rings int    // rings that point here: active and retiring
}

// initBudgets sizes every queue's frame budget from its source's frame
// count, read once.
func (d *Dataplane) initBudgets() error {
	floor := d.cfg.EndpointFloor
	if floor == 0 {
		floor = DefaultEndpointFloor
	}
	if floor < 0 {
		return fmt.Errorf("%w: endpoint floor %d", ErrInvalidConfig, floor)
	}
	for q, w := range d.workers {
		total := w.src.FrameStats().Total
		reserve := d.cfg.FrameReserve
		switch {
		case reserve == 0:
			reserve = DefaultFrameReserve(total)
		case reserve < 0:
			reserve = 0
		case reserve >= total:
			return fmt.Errorf("%w: frame reserve %d, queue %d has %d frames", ErrInvalidConfig, reserve, q, total)
		}
		w.fb = frameBudget{
			usable: uint32(min(total-reserve, 1<<31)),
			floor:  uint32(min(floor, 1<<31)),
			owners: make(map[pcb.Owner]*ownerBudget),
		}
	}
	return nil
}

// addOwner counts r, just bound, on its owner's budget.
func (w *worker) addOwner(r *ring, owner pcb.Owner) {
	o := w.fb.owners[owner]
	if o == nil {
		o = &ownerBudget{}
		w.fb.owners[owner] = o
	}
	o.eps++
	o.rings++
	r.own = o
}

// dropOwner forgets r, unbound and with nothing out any more.
func (w *worker) dropOwner(r *ring) {
	o := r.own
	if o.rings--; o.rings == 0 {
		for k, v := range w.fb.owners {
			if v == o {
				delete(w.fb.owners, k)
				break
			}
		}
	}
}

// rebudget recomputes the owners' shares and the bound rings' budgets after
// a bind or an unbind. It runs on the control path, between two batches.
func (w *worker) rebudget() {
	n := uint32(0)
	for _, o := range w.fb.owners {
		if o.eps > 0 {
			n++
		}
	}
	if n == 0 {
		return
	}
	share := max(w.fb.usable/n, w.fb.floor)
	for _, o := range w.fb.owners {
		if o.eps > 0 {
			o.share = share
		}
	}
	for _, r := range w.active {
		b := max(r.own.share/uint32(r.own.eps), w.fb.floor)
		r.budget = min(b, r.size())
	}
}
