//go:build linux

package sockio

import (
	"errors"
	"os"
	"syscall"
)

// SendNoWait sends b as one message with MSG_DONTWAIT, whatever c's
// write deadline. If the socket's
// buffer has no room it returns an error matching ErrWouldBlock at once,
// and nothing is sent (a SOCK_SEQPACKET message is sent whole or not at
// all).
func SendNoWait(c syscall.Conn, b []byte) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	// Control, not Write: it never parks on the netpoller and ignores
	// write deadlines, which belong to the conn's blocking writers.
	err = rc.Control(func(fd uintptr) {
		for {
			opErr = syscall.Sendto(int(fd), b, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, nil)
			if opErr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if opErr != nil {
		if errors.Is(opErr, syscall.EAGAIN) {
			return ErrWouldBlock
		}
		return os.NewSyscallError("sendto", opErr)
	}
	return nil
}

// FileLimit returns the soft RLIMIT_NOFILE of this process, 0 if unknown.
func FileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return r.Cur
}

// Discard reads and drops, without waiting, up to max messages queued on
// c. A server refusing a client calls it before closing: on a unix
// socket, closing with unread data makes the peer's next read fail with
// ECONNRESET instead of returning the refusal.
func Discard(c syscall.Conn, max int) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var buf [512]byte
	rc.Control(func(fd uintptr) {
		for range max {
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_DONTWAIT|syscall.MSG_TRUNC)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n == 0 {
				return
			}
		}
	})
}
