package rxq

// TXQueue is the user side of an AF_XDP TX ring: user space produces the
// descriptors of frames to send. Submitting a descriptor hands its frame to
// the kernel until its address comes back on the completion ring.
//
// One goroutine per queue; not safe for concurrent use.
type TXQueue struct {
	r     ring
	descs []Desc
}

// NewTXQueue builds the producer side of a TX ring of size entries over
// mem.
func NewTXQueue(mem []byte, off RingOffsets, size uint32) (*TXQueue, error) {
	r, d, err := newRingOf[Desc](mem, off, size, producerSide)
	if err != nil {
		return nil, err
	}
	return &TXQueue{r: r, descs: d}, nil
}

// Reserve claims up to n slots; fill them with Set(idx+i) and publish them
// with Submit.
func (q *TXQueue) Reserve(n uint32) (idx, got uint32) { return q.r.reserve(n) }

// Set stores a descriptor in reserved slot idx.
func (q *TXQueue) Set(idx uint32, d Desc) { q.descs[idx&q.r.mask] = d }

// Submit publishes n reserved slots to the kernel.
func (q *TXQueue) Submit(n uint32) { q.r.submit(n) }

// Transmit queues as many of descs as fit and returns how many. The kernel
// may need a kick (NeedWakeup) to start sending.
func (q *TXQueue) Transmit(descs []Desc) int {
	idx, n := q.r.reserve(uint32(len(descs)))
	for i := uint32(0); i < n; i++ {
		q.descs[(idx+i)&q.r.mask] = descs[i]
	}
	if n > 0 {
		q.r.submit(n)
	}
	return int(n)
}

// NeedWakeup reports whether the kernel wants a sendto to start sending.
func (q *TXQueue) NeedWakeup() bool { return q.r.needWakeup() }

// Len is the number of descriptors queued and not yet taken by the kernel.
func (q *TXQueue) Len() int { return q.r.entries() }

// Size is the ring's capacity.
func (q *TXQueue) Size() int { return int(q.r.size) }
