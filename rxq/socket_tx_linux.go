package rxq

import "github.com/xdpmux/xdpmux/rxq/internal"

// The transmit side of a Socket: the free list, the TX ring and the
// completion ring.

// AllocFrame takes a frame from the free list (to build a frame to
// transmit).
func (s *Socket) AllocFrame() (uint64, bool) { return s.alloc.Alloc() }

// FreeFrame returns a frame to the free list; addr may point anywhere in
// the frame.
func (s *Socket) FreeFrame(addr uint64) { s.alloc.Free(addr) }

// CanTransmit reports whether the socket has a TX ring (TXRingSize > 0).
func (s *Socket) CanTransmit() bool { return s.tx != nil }

// Transmit queues as many of descs as fit on the TX ring and returns how
// many; their frames belong to the kernel until Complete. It kicks the
// kernel with sendto: always in copy mode, else when it asks for it.
func (s *Socket) Transmit(descs []Desc) int {
	if s.tx == nil || !s.enter() {
		return 0
	}
	n := s.tx.Transmit(descs)
	// In copy mode the kernel transmits only inside sendto (or poll), so
	// kick every time; in zero-copy mode only when the driver asks.
	if n > 0 && (s.mode == ModeCopy || !s.wakeup || s.tx.NeedWakeup()) {
		internal.Kick(s.fd, false)
	}
	s.exit()
	return n
}

// Complete moves the frames the kernel has finished sending back to the
// free list (and, beyond the transmit reserve, to the fill ring) and
// returns how many. While the TX ring still holds
// descriptors it kicks the kernel (in copy mode each sendto sends a bounded
// batch), so a transmitting worker calls it once per round.
func (s *Socket) Complete() int {
	if !s.enter() {
		return 0
	}
	// In copy mode the kernel sends a bounded batch per sendto: keep
	// kicking while descriptors wait on the TX ring.
	if s.tx != nil && s.tx.Len() > 0 && (s.mode == ModeCopy || !s.wakeup || s.tx.NeedWakeup()) {
		internal.Kick(s.fd, false)
	}
	total := 0
	for {
		n := s.comp.Complete(s.scratch[:])
		for _, a := range s.scratch[:n] {
			s.alloc.Free(a)
		}
		total += n
		if n < len(s.scratch) {
			break
		}
	}
	if total > 0 {
		s.refill(0)
	}
	s.exit()
	return total
}

// Kick asks the kernel to process the TX ring (sendto with MSG_DONTWAIT).
func (s *Socket) Kick() error {
	if !s.enter() {
		return ErrClosed
	}
	defer s.exit()
	return internal.Kick(s.fd, false)
}
