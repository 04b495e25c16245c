//go:build !linux

package sockio

import (
	"errors"
	"syscall"
)

// SendNoWait fails: only Linux is supported.
func SendNoWait(c syscall.Conn, b []byte) error {
	return errors.New("send: not supported on this platform")
}

// FileLimit returns 0: unknown.
func FileLimit() uint64 { return 0 }

// Discard does nothing.
func Discard(c syscall.Conn, max int) {}
