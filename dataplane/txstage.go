package dataplane

import (
	"sync/atomic"
)

// txStage is a single-producer (the endpoint's WriteTo and SendFrame
// callers, under its txMu), single-consumer (the queue's worker) ring of
// whole frames built outside the UMEM. Indices are free-running; the
// producer writes a slot, then publishes prod; the worker reads prod,
// copies, then publishes cons.
type txStage struct {
	prod atomic.Uint32 // written by the application
	_    cacheLinePad
	cons atomic.Uint32 // written by the worker
	_    cacheLinePad

	consW    uint32 // worker-private copy of cons
	prodA    uint32 // application-private copy of prod, under txMu
	mask     uint32
	slotSize int
	lens     []uint32
	buf      []byte
}

func newTxStage(slots, slotSize int) *txStage {
	return &txStage{
		mask:     uint32(slots - 1),
		slotSize: slotSize,
		lens:     make([]uint32, slots),
		buf:      make([]byte, slots*slotSize),
	}
}

func (st *txStage) slot(i uint32) []byte {
	o := int(i) * st.slotSize
	return st.buf[o : o+st.slotSize : o+st.slotSize]
}
