package sys

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ListenReusePort opens a UDP socket bound to addr with SO_REUSEPORT set,
// in the calling OS thread's network namespace. rcvbuf > 0 sets SO_RCVBUF
// (the kernel doubles it and caps it at net.core.rmem_max); busyPollUs > 0
// sets SO_BUSY_POLL (microseconds of busy polling per receive).
func ListenReusePort(addr netip.AddrPort, rcvbuf, busyPollUs int) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			if serr == nil && rcvbuf > 0 {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
			}
			if serr == nil && busyPollUs > 0 {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BUSY_POLL, busyPollUs)
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

// RmemMax returns net.core.rmem_max as the calling thread's network
// namespace sees it: the largest SO_RCVBUF an unprivileged application
// can ask for, what an operator tuning a UDP service sets it to.
func RmemMax() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("net.core.rmem_max %q: %w", b, err)
	}
	return v, nil
}
