package reuseport

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SetRcvBufMax sets c's SO_RCVBUF to net.core.rmem_max (as the calling
// thread's network namespace reads it), as an operator tuning a UDP
// service would, and returns the kernel's resulting (doubled) figure.
func SetRcvBufMax(c *net.UDPConn) (int, error) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		return 0, err
	}
	rmem, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("net.core.rmem_max %q: %w", b, err)
	}
	if err := c.SetReadBuffer(rmem); err != nil {
		return 0, fmt.Errorf("SO_RCVBUF %d: %w", rmem, err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, os.NewSyscallError("getsockopt SO_RCVBUF", serr)
	}
	return v, nil
}
