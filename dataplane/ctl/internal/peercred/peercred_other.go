//go:build !linux

package peercred

import (
	"errors"
	"syscall"
)

// Cred is what the kernel recorded of the peer when it connected.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// Of fails: SO_PEERCRED is Linux's.
func Of(c syscall.Conn) (Cred, error) {
	return Cred{}, errors.New("peer credentials: not supported on this platform")
}
