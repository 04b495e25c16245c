package internal

import (
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Poller parks goroutines on the Go runtime's netpoller until an fd is
// ready, the way net.Conn does: the fd is non-blocking and registered once
// with the runtime's epoll instance (edge-triggered), and a waiter runs
// RawConn.Read (or Write) with a callback that checks for work; the
// callback returning false parks the goroutine until epoll reports the fd
// readable (writable) or the deadline passes, and then runs again. The
// parked goroutine holds no OS thread and no P.
//
// Edge-triggered readiness is reported once per wake-up of the socket
// (for an AF_XDP socket, once per sk_data_ready: each batch the kernel
// publishes on the rx ring), not while the ring stays non-empty, so the
// callback must look at the ring itself before it lets the goroutine park;
// RawConn.Read arms the poll descriptor before the first call, so an event
// between the check and the park is not lost.
//
// Interrupt moves the deadlines into the past: a parked waiter returns
// os.ErrDeadlineExceeded. Any goroutine may call Interrupt and Close; one
// goroutine at a time calls Wait.
//
// Setting a deadline costs a lock and a timer change in the runtime, which
// a worker parking after every empty poll paid each time (9% of its CPU in
// one profile): Wait keeps the read deadline it set last while that falls
// between now and the new one, so a park may end before its deadline (a
// timeout then is early, never late) and the timer moves once per deadline
// period rather than once per park. Wait takes a timeout, not a deadline,
// and reads the monotonic clock once (time.Since of a time with a
// monotonic reading reads only that clock): time.Now reads the wall clock
// too, and a caller's time.Now plus Wait's own reading were three clock
// reads per park (1.4% of the machine at 1 Mpps in one profile).
type Poller struct {
	f  *os.File
	rc syscall.RawConn
	// rd is the read deadline in force, in nanoseconds since pollEpoch
	// (monotonic: a wall clock step does not move it): noDeadline for
	// none, 0 when not known (after Interrupt). Wait stores it before
	// it sets the deadline and Interrupt after it moves the deadlines, so
	// rd never names a deadline later than the one in force.
	rd atomic.Int64
}

// noDeadline is Poller.rd for no read deadline.
const noDeadline = math.MaxInt64

// pollEpoch is the origin of Poller.rd, a second before the process's
// first Wait could run, so that no deadline maps to 0.
var pollEpoch = time.Now().Add(-time.Second)

// interruptTime is a deadline in the past.
var interruptTime = time.Unix(1, 0)

// NewPoller puts fd in non-blocking mode and registers it with the
// netpoller. From then on the Poller owns fd: Close closes it. On error,
// fd is closed too. Never call Fd on the file: it would make fd blocking.
func NewPoller(fd int, name string) (*Poller, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("newfile", unix.EBADF)
	}
	// A file the netpoller refused (epoll_ctl failed) has no deadlines:
	// waiting on it would block a thread, or fail.
	if err := f.SetDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("fd not pollable by the netpoller: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &Poller{f: f, rc: rc}
	p.rd.Store(noDeadline)
	return p, nil
}

// Wait sets the read (write, with write true) deadline timeout from now
// (0 or less: none) and runs ready, parking between calls, until ready
// returns true (nil), the deadline passes or Interrupt is called
// (os.ErrDeadlineExceeded), or the Poller is closed (os.ErrClosed). ready's
// argument is the fd; it must not block. A read deadline set by an earlier
// Wait that is still ahead and not after the new one is kept (see Poller):
// the wait may then time out early.
func (p *Poller) Wait(timeout time.Duration, write bool, ready func(fd uintptr) bool) error {
	if write {
		var deadline time.Time
		if timeout > 0 {
			deadline = time.Now().Add(timeout)
		}
		if err := p.f.SetWriteDeadline(deadline); err != nil {
			return err
		}
		return p.rc.Write(ready)
	}
	if err := p.setReadTimeout(timeout); err != nil {
		return err
	}
	return p.rc.Read(ready)
}

// setReadTimeout sets the read deadline timeout from now (0 or less: none)
// unless the one in force may stay.
func (p *Poller) setReadTimeout(timeout time.Duration) error {
	cur := p.rd.Load()
	if timeout <= 0 {
		if cur == noDeadline {
			return nil
		}
		p.rd.Store(noDeadline)
		return p.f.SetReadDeadline(time.Time{})
	}
	now := int64(time.Since(pollEpoch))
	want := now + int64(timeout)
	if cur != 0 && cur > now && cur <= want {
		return nil
	}
	p.rd.Store(want)
	// pollEpoch carries a monotonic reading, and so does the deadline:
	// the runtime measures it on the monotonic clock.
	return p.f.SetReadDeadline(pollEpoch.Add(time.Duration(want)))
}

// Interrupt makes a parked Wait return os.ErrDeadlineExceeded. A Wait that
// sets its deadline after Interrupt is not affected: pair Interrupt with a
// flag that the ready callback checks.
func (p *Poller) Interrupt() {
	p.f.SetDeadline(interruptTime)
	p.rd.Store(0)
}

// Close deregisters the fd from the netpoller and closes it once no Wait
// or Interrupt uses it any more.
func (p *Poller) Close() error { return p.f.Close() }
