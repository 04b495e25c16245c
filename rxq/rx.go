package rxq

// RXQueue is the user side of an AF_XDP RX ring: the kernel produces the
// descriptors of received frames. Taking a descriptor hands its frame to
// user space until it is put on the fill ring again.
//
// One goroutine per queue; not safe for concurrent use.
type RXQueue struct {
	r     ring
	descs []Desc
}

// NewRXQueue builds the consumer side of an RX ring of size entries over
// mem.
func NewRXQueue(mem []byte, off RingOffsets, size uint32) (*RXQueue, error) {
	r, d, err := newRingOf[Desc](mem, off, size, consumerSide)
	if err != nil {
		return nil, err
	}
	return &RXQueue{r: r, descs: d}, nil
}

// Peek takes up to n received entries; read them with Get(idx+i) and give
// the slots back with Release.
func (q *RXQueue) Peek(n uint32) (idx, got uint32) { return q.r.peek(n) }

// Get returns the descriptor in slot idx.
func (q *RXQueue) Get(idx uint32) Desc { return q.descs[idx&q.r.mask] }

// Release returns n peeked slots to the kernel.
func (q *RXQueue) Release(n uint32) { q.r.release(n) }

// Receive moves up to len(descs) received descriptors into descs and
// returns how many.
func (q *RXQueue) Receive(descs []Desc) int {
	idx, n := q.r.peek(uint32(len(descs)))
	for i := uint32(0); i < n; i++ {
		descs[i] = q.descs[(idx+i)&q.r.mask]
	}
	if n > 0 {
		q.r.release(n)
	}
	return int(n)
}

// Ready reports whether a received descriptor waits to be taken: the next
// Peek or Receive returns at least one. It is what a waiter re-checks
// before parking.
func (q *RXQueue) Ready() bool { return q.r.ready() }

// Len is the number of received descriptors waiting in the ring.
func (q *RXQueue) Len() int { return q.r.entries() }

// Size is the ring's capacity.
func (q *RXQueue) Size() int { return int(q.r.size) }
