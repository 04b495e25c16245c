package rxq

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/xdpmux/xdpmux/rxq/internal"
)

// The receive side of a Socket: taking received frames, refilling the fill
// ring, and waiting for frames on the Go netpoller.

// Receive moves up to len(descs) received descriptors into descs and
// returns how many; the frames then belong to the caller until Recycle (or
// FreeFrame). It never blocks.
func (s *Socket) Receive(descs []Desc) int {
	if s.rx == nil || !s.enter() {
		return 0
	}
	n := s.rx.Receive(descs)
	s.exit()
	return n
}

// Recycle puts frames back on the fill ring; what does not fit goes to the
// free list. It then tops the fill ring up from the free list, leaving
// enough free frames for transmitting when there is a TX ring.
func (s *Socket) Recycle(addrs []uint64) {
	if !s.enter() {
		return
	}
	idx, n := s.fill.Reserve(uint32(len(addrs)))
	for i := uint32(0); i < n; i++ {
		s.fill.Set(idx+i, s.alloc.Align(addrs[i]))
	}
	for _, a := range addrs[n:] {
		s.alloc.Free(a)
	}
	s.refill(n)
	s.exit()
}

// refill moves the free frames beyond the transmit reserve onto the fill
// ring, after n slots the caller has already reserved and set there,
// publishes them all, and kicks a busy-polled kernel that asks for it.
// Recycle calls it, and so does Complete: frames a reply took from the
// fill ring come back through the completion ring to the free list, and
// a queue that only replies would otherwise drain its fill ring.
func (s *Socket) refill(n uint32) {
	if extra := s.alloc.Len() - s.txReserve; extra > 0 && s.rx != nil {
		i2, m := s.fill.Reserve(uint32(extra))
		for i := uint32(0); i < m; i++ {
			a, _ := s.alloc.Alloc()
			s.fill.Set(i2+i, a)
		}
		n += m
	}
	if n > 0 {
		s.fill.Submit(n)
		if s.busyPoll && s.wakeup && s.fill.NeedWakeup() {
			internal.Kick(s.fd, true)
		}
	}
}

// Wait blocks until the RX ring holds descriptors (or, without an RX ring,
// the TX ring has room), Wake is called, timeout passes (negative: no
// limit) or the socket is closed (ErrClosed). A timeout is not an error:
// Wait then returns nil. With BusyPoll it does not sleep.
//
// Wait parks the goroutine on the Go netpoller (the socket is registered
// with the runtime's epoll, edge-triggered) rather than blocking a thread
// in poll(2): an idle worker holds no OS thread and no P, so on a machine
// with few CPUs the goroutines it wakes (endpoints, applications) run at
// once. Before parking, and at each wake-up, it checks the ring itself
// and kicks the kernel when the fill ring's need-wakeup flag asks for it
// (or frames wait on the TX ring in copy mode), as poll(2) did.
func (s *Socket) Wait(timeout time.Duration) error {
	if !s.enter() {
		return ErrClosed
	}
	err := s.wait(timeout)
	s.woken.Store(false)
	s.exit()
	return err
}

func (s *Socket) wait(timeout time.Duration) error {
	if s.rx != nil && s.rx.Ready() {
		return nil
	}
	if s.busyPoll {
		if s.wakeup && s.fill.NeedWakeup() {
			internal.Kick(s.fd, true)
		}
		return nil
	}
	if timeout == 0 {
		s.kick()
		return nil
	}
	if s.kbusy && s.rx != nil {
		// One busy-poll round of the device queue (SO_BUSY_POLL) in
		// recvfrom, as the kernel's AF_XDP documentation has the
		// application do, before parking.
		internal.Kick(s.fd, true)
		if s.rx.Ready() {
			return nil
		}
	}
	s.parked.Store(true)
	err := s.poll.Wait(timeout, s.rx == nil, s.ready)
	s.parked.Store(false)
	switch {
	case s.closed.Load():
		return ErrClosed
	case err == nil, errors.Is(err, os.ErrDeadlineExceeded):
		return nil
	}
	return fmt.Errorf("wait on queue %d: %w", s.queue, err)
}

// readyToWake is Wait's check, run on the netpoller's RawConn before the
// goroutine parks and after each readiness event: epoll reports an edge
// (a new batch on the rx ring), not a level, so the ring is looked at
// here, after RawConn armed the poll descriptor. Returning false parks.
func (s *Socket) readyToWake(uintptr) bool {
	if s.woken.Load() || s.closed.Load() {
		return true
	}
	if s.rx != nil {
		if s.rx.Len() > 0 {
			return true
		}
	} else if s.tx.Len() < s.tx.Size() {
		return true
	}
	s.kick()
	return false
}

// kick does what poll(2) on the socket would do before sleeping: wake the
// kernel when the fill ring asks for it (need-wakeup; in zero-copy mode it
// then refills the driver's queue), and push frames still waiting on the
// TX ring (in copy mode only a syscall sends them).
func (s *Socket) kick() {
	if s.wakeup && s.fill.NeedWakeup() {
		internal.Kick(s.fd, true)
	}
	if s.tx != nil && s.tx.Len() > 0 && (s.mode == ModeCopy || !s.wakeup || s.tx.NeedWakeup()) {
		internal.Kick(s.fd, false)
	}
}

// Wake makes a pending or the next Wait return early. Any goroutine may
// call it. A Wake while no Wait is parked costs one atomic swap; waking a
// parked Wait moves the socket's deadline into the past.
func (s *Socket) Wake() {
	if !s.enter() {
		return
	}
	// A Wait stores parked before it sets its deadline and checks woken
	// after: either it sees woken, or this sees parked and interrupts it.
	// Wake already true means an earlier Wake did the same.
	if !s.woken.Swap(true) && s.parked.Load() {
		s.poll.Interrupt()
	}
	s.exit()
}
