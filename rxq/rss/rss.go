package rss

import (
	"fmt"
)

// RSSTableSize is the number of entries in a simulated RSS indirection table.
const RSSTableSize = 128

// RSS simulates a NIC's receive-side scaling: a RSSTableSize-entry
// indirection table whose entry i is i mod nqueues, indexed by the low 7 bits
// of the Toeplitz hash (NewRSS), or a NIC's own table (NewRSSTable). It stands in for the NIC when frames are replayed
// from a capture or generated in tests; on a real NIC the queue is the one
// the frame arrived on.
//
// An RSS is immutable after NewRSS and safe for concurrent use.
type RSS struct {
	nqueues int
	mask    uint32
	table   []uint32
}

// MaxTableSize bounds the indirection tables NewRSSTable accepts.
const MaxTableSize = 1 << 16

// NewRSS returns the simulated RSS for nqueues queues. nqueues must be at
// least 1. With more than RSSTableSize queues, queues RSSTableSize and up
// receive nothing, as on a NIC with a 128-entry table.
func NewRSS(nqueues int) (*RSS, error) {
	if nqueues < 1 {
		return nil, fmt.Errorf("rss with %d queues: need at least 1", nqueues)
	}
	r := &RSS{nqueues: nqueues, mask: RSSTableSize - 1, table: make([]uint32, RSSTableSize)}
	for i := range r.table {
		r.table[i] = uint32(i % nqueues)
	}
	return r, nil
}

// NewRSSTable returns the RSS of an explicit indirection table, such as a
// NIC's (`ethtool -x`, rxq.ReadRSS): a frame with hash h is received on
// queue table[h & (len(table)-1)]. The table's length must be a power of
// two up to MaxTableSize, and every entry below nqueues.
func NewRSSTable(table []uint32, nqueues int) (*RSS, error) {
	n := len(table)
	if n == 0 || n > MaxTableSize || n&(n-1) != 0 {
		return nil, fmt.Errorf("rss table of %d entries: want a power of two from 1 to %d", n, MaxTableSize)
	}
	if nqueues < 1 {
		return nil, fmt.Errorf("rss with %d queues: need at least 1", nqueues)
	}
	for i, q := range table {
		if q >= uint32(nqueues) {
			return nil, fmt.Errorf("rss table entry %d is queue %d, but there are %d queues", i, q, nqueues)
		}
	}
	return &RSS{nqueues: nqueues, mask: uint32(n - 1), table: append([]uint32(nil), table...)}, nil
}

// Queue returns the queue that a frame with the given hash is received on.
func (r *RSS) Queue(hash uint32) int {
	return int(r.table[hash&r.mask])
}

// NumQueues returns the number of queues the table spreads over.
func (r *RSS) NumQueues() int {
	return r.nqueues
}
