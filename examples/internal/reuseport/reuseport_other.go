//go:build !linux

package reuseport

import (
	"errors"
	"net"
)

func setReusePort(uintptr) error {
	return errors.New("SO_REUSEPORT sockets for the -kernel variant need Linux")
}

// SetRcvBufMax needs Linux (net.core.rmem_max).
func SetRcvBufMax(*net.UDPConn) (int, error) {
	return 0, errors.New("SO_RCVBUF at net.core.rmem_max needs Linux")
}
