// Package sockio sends on a connected socket without ever waiting: the
// control server's frame pump writes with it, so that a client that does
// not read cannot stall the goroutine draining its endpoint. With
// internal/peercred it is where package ctl makes system calls.
package sockio

import (
	"errors"
	"os"
	"syscall"
)

// ErrWouldBlock is returned by SendNoWait when the message does not fit in
// the socket's send buffer now. It is syscall.EAGAIN.
var ErrWouldBlock error = syscall.EAGAIN

// SendNoWait sends b as one message with MSG_DONTWAIT. If the socket's
// buffer has no room it returns an error matching ErrWouldBlock at once,
// and nothing is sent (a SOCK_SEQPACKET message is sent whole or not at
// all).
func SendNoWait(c syscall.Conn, b []byte) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	err = rc.Write(func(fd uintptr) bool {
		for {
			opErr = syscall.Sendto(int(fd), b, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, nil)
			if opErr != syscall.EINTR {
				return true // never park on the netpoller
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
