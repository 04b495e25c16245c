package rxq

// FillQueue is the user side of a UMEM fill ring: user space produces frame
// addresses for the kernel to receive into. Giving an address to the fill
// ring hands the frame to the kernel.
//
// One goroutine per queue; not safe for concurrent use.
type FillQueue struct {
	r     ring
	addrs []uint64
}

// NewFillQueue builds the producer side of a fill ring of size entries over
// mem (an mmap'd ring, or MemRing's memory).
func NewFillQueue(mem []byte, off RingOffsets, size uint32) (*FillQueue, error) {
	r, a, err := newRingOf[uint64](mem, off, size, producerSide)
	if err != nil {
		return nil, err
	}
	return &FillQueue{r: r, addrs: a}, nil
}

// Reserve claims up to n slots; fill them with Set(idx+i) and publish them
// with Submit.
func (q *FillQueue) Reserve(n uint32) (idx, got uint32) { return q.r.reserve(n) }

// Set stores a frame address in reserved slot idx.
func (q *FillQueue) Set(idx uint32, addr uint64) { q.addrs[idx&q.r.mask] = addr }

// Submit publishes n reserved slots to the kernel.
func (q *FillQueue) Submit(n uint32) { q.r.submit(n) }

// Fill gives as many of addrs as fit to the kernel and returns how many.
func (q *FillQueue) Fill(addrs []uint64) int {
	idx, n := q.r.reserve(uint32(len(addrs)))
	for i := uint32(0); i < n; i++ {
		q.addrs[(idx+i)&q.r.mask] = addrs[i]
	}
	if n > 0 {
		q.r.submit(n)
	}
	return int(n)
}

// NeedWakeup reports whether the kernel wants a syscall after refilling.
func (q *FillQueue) NeedWakeup() bool { return q.r.needWakeup() }

// Len is the number of frames in the ring, published and not yet taken by
// the kernel.
func (q *FillQueue) Len() int { return q.r.entries() }

// Size is the ring's capacity.
func (q *FillQueue) Size() int { return int(q.r.size) }
