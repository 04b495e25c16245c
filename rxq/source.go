package rxq

import "time"

// BatchSize is the number of descriptors a worker moves per ring operation.
const BatchSize = 64

// Desc describes one frame in a UMEM, as struct xdp_desc: the frame's bytes
// are UMEM[Addr : Addr+Len].
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// FrameStats is a Source's frame accounting at a quiescent point. The frames
// a Source does not report (Total - Fill - RX - Free) are held by its user:
// the dataplane's worker and endpoints.
type FrameStats struct {
	Total int // frames in the UMEM that belong to this source
	Fill  int // frames in the fill ring, waiting for the kernel
	RX    int // frames in the rx ring, received but not yet taken
	Free  int // frames on the source's own free list
}

// Source is the receive side of one queue as the dataplane's worker sees it.
// It is implemented by the AF_XDP Socket and by rxqtest's in-memory source,
// so the dataplane runs the same code with or without a kernel.
//
// One goroutine (the queue's worker) calls Receive, Recycle and Wait; it is
// not safe for concurrent use, except Wake and Close, which any goroutine may
// call.
type Source interface {
	// Queue is the receive queue index this source serves.
	Queue() int
	// UMEM is the frame memory; Receive's descriptors index into it.
	UMEM() []byte
	// Receive moves up to len(descs) received frames into descs and returns
	// how many. It never blocks. Until recycled, the frames belong to the
	// caller.
	Receive(descs []Desc) int
	// Recycle gives frames back to be filled again. addr may point anywhere
	// inside a frame; the source aligns it.
	Recycle(addrs []uint64)
	// Wait blocks until Receive may return frames, Wake is called, the
	// timeout passes, or the source is closed (then it returns ErrClosed).
	Wait(timeout time.Duration) error
	// Wake makes a pending or the next Wait return early.
	Wake()
	// FrameStats reports where this source's frames are.
	FrameStats() FrameStats
	// Close releases everything the source holds.
	Close() error
}

// Transmitter is the optional transmit side of a Source: a Source that can
// also send frames from its UMEM on its queue implements it (rxq.Socket,
// when opened with a TX ring; rxqtest.Source, when given one). The same
// goroutine that calls Receive (the queue's worker) calls these methods;
// they are not safe for concurrent use.
//
// A frame handed to Transmit belongs to the kernel until Complete takes it
// back, onto the source's free list. Such frames are not in FrameStats'
// Fill, RX or Free: their user counts them (submitted - completed).
//
// A source may have the methods without being able to send (an rxq.Socket
// opened without a TX ring: Transmit then always returns 0). A source that
// knows says so with a CanTransmit() bool method.
type Transmitter interface {
	// FrameSize is the size of one UMEM frame: a frame to send, with its
	// headroom, fits in one.
	FrameSize() int
	// AllocFrame takes a free frame to build a packet in.
	AllocFrame() (uint64, bool)
	// FreeFrame gives back a frame that will not be sent; addr may point
	// anywhere inside it.
	FreeFrame(addr uint64)
	// Transmit queues as many of descs as fit on the TX ring and returns
	// how many. A descriptor's Addr may point inside a frame; Addr+Len
	// must not cross the frame's end.
	Transmit(descs []Desc) int
	// Complete takes back the frames the kernel has finished sending and
	// returns how many.
	Complete() int
}

// The optional interfaces below are what the dataplane's worker tests a
// Source for, besides Transmitter. They are declared here, next to Source,
// so that every implementation can be checked at compile time
// (`var _ rxq.CanTransmitter = (*T)(nil)`) and a method whose signature
// drifts stops compiling instead of silently switching a feature off.

// CanTransmitter is implemented by a Transmitter that knows whether it can
// send: the worker switches sending off for the queue when CanTransmit
// returns false (an rxq.Socket opened without a TX ring). A Transmitter
// without it is assumed able to send.
type CanTransmitter interface {
	CanTransmit() bool
}

// FillEmptier is implemented by a Source that counts the frames it lost
// before the worker saw them, for want of a free frame on the fill ring
// (the kernel's rx_fill_ring_empty_descs). The dataplane reports it as
// QueueStats.FillEmpty. Any goroutine may call FillEmpty.
type FillEmptier interface {
	FillEmpty() uint64
}
