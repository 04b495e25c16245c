//go:build !linux

package reuseport

import "errors"

func setReusePort(uintptr) error {
	return errors.New("SO_REUSEPORT sockets for the -kernel variant need Linux")
}
