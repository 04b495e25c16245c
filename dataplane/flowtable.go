package dataplane

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/xdpmux/xdpmux/pcb"
)

// FlowTable is the per-queue table of placed flows that bounded loads
// keep (BoundedLoad), for callers outside the workers: `xdpmux replay`'s
// simulation of a slow member. It is the workers' table (the same 4-way
// buckets chosen by the hash, full-flow compare, idle rule and eviction of
// the least recently seen flow); only the rule for keeping a remembered
// member is the caller's. Time is in any unit the caller picks, the same
// for now and idle. One goroutine.
type FlowTable struct {
	ft flowTable
}

// NewFlowTable returns a table of size flows (a power of two >=
// 4) that forgets a flow idle longer than idle.
func NewFlowTable(size int, idle int64) (*FlowTable, error) {
	if size < flowWays || bits.OnesCount(uint(size)) != 1 {
		return nil, fmt.Errorf("%w: flow table size %d, want a power of two >= %d", ErrInvalidConfig, size, flowWays)
	}
	if idle <= 0 {
		return nil, fmt.Errorf("%w: flow idle %d, want > 0", ErrInvalidConfig, idle)
	}
	return &FlowTable{ft: newFlowTable(size, time.Duration(idle))}, nil
}

// Stick returns the member that flow f goes to: the one the table
// remembers for it, while that flow is live and keep accepts the member
// (the workers keep it while it is bound in the same group), else pick,
// which the table then remembers. kept reports a remembered member other
// than pick.
func (t *FlowTable) Stick(f *pcb.Flow, hash uint32, now int64, pick pcb.EndpointID, keep func(pcb.EndpointID) bool) (id pcb.EndpointID, kept bool) {
	if e := t.ft.find(f, hash, now); e != nil && keep(e.id) {
		e.last = now
		return e.id, e.id != pick
	}
	t.ft.put(f, hash, now, pick)
	return pick, false
}

// Evicted returns how many live flows a new flow pushed out so far.
func (t *FlowTable) Evicted() uint64 { return t.ft.evicted }
