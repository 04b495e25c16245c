// Package rxqtest is the in-memory test double of rxq.Source.
//
// A Source stands in for one AF_XDP queue over the real rings: its UMEM is
// a byte slice, and its fill, rx, tx and completion rings are rxq.MemRing
// memory with rxq's own FillQueue, RXQueue, TXQueue and CompletionQueue on
// the worker's side, exactly as an rxq.Socket holds them. The Source plays
// the kernel on the other side of each ring with the opposite-role queue
// over the same memory (the pairing rxq's ring tests use): Inject takes a
// frame from the fill ring, copies the bytes in and publishes the
// descriptor on the rx ring; TakeSent takes descriptors off the TX ring and
// publishes the frames on the completion ring. So the root-free dataplane
// tests exercise the real ring code, and its memory ordering, under -race.
//
// Frame ownership follows rxq.Socket: a frame is on the fill ring, on the
// rx ring, on the free list, on the TX or completion ring, or held by the
// caller between Receive and Recycle (or AllocFrame and Transmit). A
// Recycle, FreeFrame or Transmit of a frame the caller does not hold is a
// bug in the caller and panics, so double frees show up in tests instead
// of as corrupt data.
//
// With Options.TXRingSize > 0 the Source also implements rxq.Transmitter
// and, like rxq.Socket, keeps half its frames on a free list for
// AllocFrame; Complete returns sent frames there, and Recycle and Complete
// move free frames beyond that reserve back to the fill ring.
//
// A mutex serialises the kernel's side (Inject and TakeSent may run on any
// goroutine, concurrently with the worker) and the per-frame bookkeeping;
// the worker's ring operations take no lock. Receive and Recycle never
// allocate.
package rxqtest
