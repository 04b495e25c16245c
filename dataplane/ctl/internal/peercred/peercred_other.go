//go:build !linux

package peercred

import (
	"errors"
	"syscall"
)

// Of fails: SO_PEERCRED is Linux's.
func Of(c syscall.Conn) (Cred, error) {
	return Cred{}, errors.New("peer credentials: not supported on this platform")
}
