package rxq

// CompletionQueue is the user side of a UMEM completion ring: the kernel
// produces the addresses of frames it has finished transmitting. Taking an
// address from it hands the frame back to user space.
//
// One goroutine per queue; not safe for concurrent use.
type CompletionQueue struct {
	r     ring
	addrs []uint64
}

// NewCompletionQueue builds the consumer side of a completion ring of size
// entries over mem.
func NewCompletionQueue(mem []byte, off RingOffsets, size uint32) (*CompletionQueue, error) {
	r, a, err := newRingOf[uint64](mem, off, size, consumerSide)
	if err != nil {
		return nil, err
	}
	return &CompletionQueue{r: r, addrs: a}, nil
}

// Peek takes up to n completed entries; read them with Get(idx+i) and give
// the slots back with Release.
func (q *CompletionQueue) Peek(n uint32) (idx, got uint32) { return q.r.peek(n) }

// Get returns the address in slot idx.
func (q *CompletionQueue) Get(idx uint32) uint64 { return q.addrs[idx&q.r.mask] }

// Release returns n peeked slots to the kernel.
func (q *CompletionQueue) Release(n uint32) { q.r.release(n) }

// Complete moves up to len(addrs) completed frame addresses into addrs and
// returns how many.
func (q *CompletionQueue) Complete(addrs []uint64) int {
	idx, n := q.r.peek(uint32(len(addrs)))
	for i := uint32(0); i < n; i++ {
		addrs[i] = q.addrs[(idx+i)&q.r.mask]
	}
	if n > 0 {
		q.r.release(n)
	}
	return int(n)
}

// Len is the number of completed frames waiting in the ring.
func (q *CompletionQueue) Len() int { return q.r.entries() }

// Size is the ring's capacity.
func (q *CompletionQueue) Size() int { return int(q.r.size) }
