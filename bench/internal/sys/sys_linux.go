package sys

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ListenReusePort opens a UDP socket bound to addr with SO_REUSEPORT set,
// in the calling OS thread's network namespace. rcvbuf > 0 sets SO_RCVBUF
// (the kernel doubles it and caps it at net.core.rmem_max).
func ListenReusePort(addr netip.AddrPort, rcvbuf int) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			if serr == nil && rcvbuf > 0 {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
			}
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("setsockopt on %s: %w", address, serr)
		}
		return nil
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", addr.String())
	if err != nil {
		return nil, fmt.Errorf("listen reuseport %s: %w", addr, err)
	}
	return pc.(*net.UDPConn), nil
}

// RcvBuf returns the socket's SO_RCVBUF (the kernel's doubled figure).
func RcvBuf(c *net.UDPConn) (int, error) {
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
		return 0, fmt.Errorf("getsockopt SO_RCVBUF: %w", serr)
	}
	return v, nil
}

// ProcessCPU returns the user + system CPU time this process used so far.
func ProcessCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
