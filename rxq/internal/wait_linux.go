package internal

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Eventfd opens a non-blocking eventfd used to wake a waiting worker.
func Eventfd() (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return -1, os.NewSyscallError("eventfd", err)
	}
	return fd, nil
}

// Signal adds one to the eventfd's counter.
func Signal(efd int) {
	v := uint64(1)
	unix.Write(efd, unsafe.Slice((*byte)(unsafe.Pointer(&v)), 8))
}

// drain resets the eventfd's counter.
func drain(efd int) {
	var v uint64
	unix.Read(efd, unsafe.Slice((*byte)(unsafe.Pointer(&v)), 8))
}

// Wait polls xfd for events (POLLIN or POLLOUT) and efd for a wakeup, up to
// timeout (negative: forever). It reports whether xfd is ready and whether
// efd was signalled (its counter is then reset). EINTR counts as a timeout.
func Wait(xfd int, events int16, efd int, timeout time.Duration) (ready, woken bool, err error) {
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	fds := [2]unix.PollFd{{Fd: int32(xfd), Events: events}, {Fd: int32(efd), Events: unix.POLLIN}}
	_, err = unix.Poll(fds[:], ms)
	if err != nil {
		if err == unix.EINTR {
			return false, false, nil
		}
		return false, false, os.NewSyscallError("poll", err)
	}
	if fds[1].Revents&unix.POLLIN != 0 {
		drain(efd)
		woken = true
	}
	if fds[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
		return false, woken, os.NewSyscallError("poll", unix.EBADF)
	}
	return fds[0].Revents&events != 0, woken, nil
}
