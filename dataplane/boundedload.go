package dataplane

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/xdpmux/xdpmux/pcb"
)

// Defaults of BoundedLoad.
const (
	DefaultFlowTableSize = 4096
	DefaultFlowIdle      = 10 * time.Second
	flowWays             = 4 // entries per bucket of the flow table
)

// BoundedLoad configures consistent hashing with bounded loads (Mirrokni,
// Thorup and Zadimoghaddam 2018; HAProxy's hash-balance-factor): a group
// member whose delivery ring of a queue is filled to Fill or more gets no
// new flows of that queue, and flows already seen keep their member
// through a per-queue flow table. The zero value is off.
type BoundedLoad struct {
	// Fill is the share of a ring's frame limit (its budget, at most its
	// size) at or above which the member is overloaded, in (0, 1]; 0 is
	// off.
	Fill float64
	// FlowTableSize is the number of flows each queue remembers, a power
	// of two >= flowWays; 0 means DefaultFlowTableSize.
	FlowTableSize int
	// Idle is how long a flow is remembered without a packet; 0 means
	// DefaultFlowIdle.
	Idle time.Duration
}

func (b *BoundedLoad) validate() error {
	if b.Fill == 0 {
		return nil
	}
	if b.FlowTableSize == 0 {
		b.FlowTableSize = DefaultFlowTableSize
	}
	if b.Idle == 0 {
		b.Idle = DefaultFlowIdle
	}
	switch {
	case !(b.Fill > 0 && b.Fill <= 1):
		return fmt.Errorf("%w: bounded load fill %v, want in (0, 1]", ErrInvalidConfig, b.Fill)
	case b.FlowTableSize < flowWays || bits.OnesCount(uint(b.FlowTableSize)) != 1:
		return fmt.Errorf("%w: flow table size %d, want a power of two >= %d", ErrInvalidConfig, b.FlowTableSize, flowWays)
	case b.Idle < 0:
		return fmt.Errorf("%w: flow idle %v, want > 0", ErrInvalidConfig, b.Idle)
	}
	return nil
}

// flowEntry is a flow the queue placed: its member and when it was last
// seen (ns since the worker's epoch). id 0 is a free entry.
type flowEntry struct {
	flow pcb.Flow
	id   pcb.EndpointID
	last int64
}

// flowTable is a per-queue, set-associative table of placed flows:
// buckets of flowWays entries chosen by the packet hash, allocated once.
// A flow idle longer than idle counts as gone; a new flow that finds its
// bucket full of live flows evicts the least recently seen one (counted).
// One goroutine (the queue's worker).
type flowTable struct {
	entries []flowEntry
	mask    uint32 // bucket index mask
	idle    int64
	evicted uint64
}

func newFlowTable(size int, idle time.Duration) flowTable {
	return flowTable{entries: make([]flowEntry, size), mask: uint32(size/flowWays - 1), idle: int64(idle)}
}

func (ft *flowTable) bucket(hash uint32) []flowEntry {
	// The low bits chose the queue: mix them all into the index.
	b := (hash * 0x9e3779b1) >> 7 & ft.mask
	i := int(b) * flowWays
	return ft.entries[i : i+flowWays : i+flowWays]
}

// find returns the live entry of flow f, or nil. It allocates nothing.
func (ft *flowTable) find(f *pcb.Flow, hash uint32, now int64) *flowEntry {
	b := ft.bucket(hash)
	for i := range b {
		if e := &b[i]; e.id != 0 && e.flow == *f {
			if now-e.last > ft.idle {
				return nil
			}
			return e
		}
	}
	return nil
}

// put remembers that flow f went to id: in f's entry if it has one, else
// in a free or expired entry, else in place of the least recently seen
// flow of the bucket (counted in evicted). It allocates nothing.
func (ft *flowTable) put(f *pcb.Flow, hash uint32, now int64, id pcb.EndpointID) {
	b := ft.bucket(hash)
	victim := 0
	for i := range b {
		e := &b[i]
		if e.id != 0 && e.flow == *f {
			e.id, e.last = id, now
			return
		}
		if b[victim].id != 0 && (e.id == 0 || e.last < b[victim].last) {
			victim = i
		}
	}
	v := &b[victim]
	if v.id != 0 && now-v.last <= ft.idle {
		ft.evicted++
	}
	*v = flowEntry{flow: *f, id: id, last: now}
}

// stick applies bounded loads to a frame that Lookup sent to r, a group
// member: a flow the queue has placed keeps its member while that member
// is bound in the same group; a new flow takes r (which the pick chose
// among the members not overloaded) and is remembered.
func (w *worker) stick(r *ring, hash uint32) *ring {
	f := &w.tuple.Flow
	if e := w.flows.find(f, hash, w.now); e != nil {
		if id := e.id; uint64(id) < uint64(len(w.eps)) {
			if m := w.eps[id]; m != nil && m.gkey == r.gkey {
				e.last = w.now
				if m != r {
					w.c.flowKept++
				}
				return m
			}
		}
	}
	w.flows.put(f, hash, w.now, r.id)
	return r
}

// markLoads marks, in the worker's table copy, the group members whose
// ring is filled to the threshold, and unmarks those below it again.
// Called once per batch, before the rings are published.
func (w *worker) markLoads() {
	for _, r := range w.touched {
		w.checkLoad(r)
	}
	for i := 0; i < len(w.overloaded); i++ {
		r := w.overloaded[i]
		w.collect(r)
		if w.loaded(r) {
			continue
		}
		r.over = false
		w.table.SetOverloaded(r.id, false)
		w.dropOverloaded(i)
		i--
	}
	w.c.flowEvicted = w.flows.evicted
}

// checkLoad marks r overloaded as soon as its ring reaches the threshold:
// after each delivery to a group member, so that a burst within one batch
// already avoids it.
func (w *worker) checkLoad(r *ring) {
	if r.grouped && !r.over && w.loaded(r) {
		r.over = true
		w.table.SetOverloaded(r.id, true)
		w.overloaded = append(w.overloaded, r)
	}
}

func (w *worker) dropOverloaded(i int) {
	last := len(w.overloaded) - 1
	w.overloaded[i] = w.overloaded[last]
	w.overloaded[last] = nil
	w.overloaded = w.overloaded[:last]
}

// loaded reports whether r holds Fill or more of its frame limit.
func (w *worker) loaded(r *ring) bool {
	limit := min(r.budget, r.size())
	return float64(r.outstanding()) >= w.fill*float64(limit)
}
