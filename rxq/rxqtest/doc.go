// Package rxqtest is the in-memory test double of rxq.Source.
//
// A Source stands in for one AF_XDP queue: it owns a UMEM held in a byte
// slice, a fill "ring" of free frame addresses (all frames start there, as if
// the socket's fill ring had been pre-filled) and an rx queue of received
// descriptors. A test goroutine plays the kernel with Inject: it takes a
// frame from the fill ring, copies the bytes in and queues the descriptor on
// rx. The worker under test then Receives and Recycles exactly as it would on
// a real socket, so the dataplane runs the same code with or without a
// kernel and without privileges.
//
// Frame ownership follows rxq: a frame is in the fill ring (Source), in the
// rx queue (Source), or held by the caller between Receive and Recycle. A
// Recycle of a frame the caller does not hold is a bug in the caller and
// panics, so double frees show up in tests instead of as corrupt data.
//
// With Options.TXRingSize > 0 the Source also implements rxq.Transmitter:
// AllocFrame takes a frame from the fill ring (which doubles as the free
// list), Transmit queues descriptors on a TX ring, and the test goroutine
// plays the kernel's sending side with TakeSent (look at each frame, put it
// on the completion ring), from which Complete returns frames to the fill
// ring. Frames on the TX or completion ring are counted as held by the
// user, as rxq.Socket does.
//
// A mutex inside the Source stands in for the kernel's ring protocol: Inject
// may run concurrently with the worker. Receive and Recycle never allocate.
package rxqtest
