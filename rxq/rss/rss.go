package rss

import (
	"fmt"
)

// RSSTableSize is the number of entries in a simulated RSS indirection table.
const RSSTableSize = 128

// RSS simulates a NIC's receive-side scaling: a RSSTableSize-entry
// indirection table whose entry i is i mod nqueues, indexed by the low 7 bits
// of the Toeplitz hash. It stands in for the NIC when frames are replayed
// from a capture or generated in tests; on a real NIC the queue is the one
// the frame arrived on.
//
// An RSS is immutable after NewRSS and safe for concurrent use.
type RSS struct {
	nqueues int
	table   [RSSTableSize]uint32
}

// NewRSS returns the simulated RSS for nqueues queues. nqueues must be at
// least 1. With more than RSSTableSize queues, queues RSSTableSize and up
// receive nothing, as on a NIC with a 128-entry table.
func NewRSS(nqueues int) (*RSS, error) {
	if nqueues < 1 {
		return nil, fmt.Errorf("rss with %d queues: need at least 1", nqueues)
	}
	r := &RSS{nqueues: nqueues}
	for i := range r.table {
		r.table[i] = uint32(i % nqueues)
	}
	return r, nil
}

// Queue returns the queue that a frame with the given hash is received on.
func (r *RSS) Queue(hash uint32) int {
	return int(r.table[hash&(RSSTableSize-1)])
}

// NumQueues returns the number of queues the table spreads over.
func (r *RSS) NumQueues() int {
	return r.nqueues
}
