package rxq

// FrameAllocator is a socket's list of free UMEM frames: the frames user
// space owns and that are neither in a ring nor held by a worker or an
// endpoint. It is a stack of frame base addresses, so the most recently
// freed (cache-warm) frame is handed out first.
//
// One goroutine per queue; not safe for concurrent use.
type FrameAllocator struct {
	free      []uint64
	frameMask uint64 // ^(frameSize-1): aligns an address to its frame
	umemSize  uint64 // frames lie in [0, umemSize)
	rejected  uint64 // Free calls refused (outside the UMEM or list full)
}

// NewFrameAllocator returns an empty allocator for up to capacity frames of
// frameSize bytes (a power of two) in a UMEM of umemSize bytes. Frames are
// added with Free; NewFrameAllocatorFull adds them all.
func NewFrameAllocator(umemSize uint64, frameSize uint32, capacity int) *FrameAllocator {
	return &FrameAllocator{
		free:      make([]uint64, 0, capacity),
		frameMask: ^uint64(frameSize - 1),
		umemSize:  umemSize,
	}
}

// NewFrameAllocatorFull returns an allocator owning every frame of a UMEM
// of count frames of frameSize bytes, all free.
func NewFrameAllocatorFull(count int, frameSize uint32) *FrameAllocator {
	a := NewFrameAllocator(uint64(count)*uint64(frameSize), frameSize, count)
	// Lowest address on top of the stack.
	for i := count - 1; i >= 0; i-- {
		a.free = append(a.free, uint64(i)*uint64(frameSize))
	}
	return a
}

// Alloc takes a free frame and returns its base address.
func (a *FrameAllocator) Alloc() (uint64, bool) {
	n := len(a.free)
	if n == 0 {
		return 0, false
	}
	addr := a.free[n-1]
	a.free = a.free[:n-1]
	return addr, true
}

// Free returns a frame; addr may point anywhere inside it. An address
// outside the UMEM, or a frame freed when the list is already full, is
// refused and counted (Rejected): it cannot be one of ours.
func (a *FrameAllocator) Free(addr uint64) bool {
	addr &= a.frameMask
	if addr >= a.umemSize || len(a.free) == cap(a.free) {
		a.rejected++
		return false
	}
	a.free = append(a.free, addr)
	return true
}

// Align returns the base address of the frame holding addr.
func (a *FrameAllocator) Align(addr uint64) uint64 { return addr & a.frameMask }

// Len is the number of free frames.
func (a *FrameAllocator) Len() int { return len(a.free) }

// Cap is the number of frames the allocator manages.
func (a *FrameAllocator) Cap() int { return cap(a.free) }

// Rejected is the number of refused Free calls.
func (a *FrameAllocator) Rejected() uint64 { return a.rejected }
