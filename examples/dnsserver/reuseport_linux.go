package main

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenReusePort opens a kernel UDP socket on addr with SO_REUSEPORT, in
// the calling OS thread's network namespace: the -kernel variant.
func listenReusePort(addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("setsockopt SO_REUSEPORT on %s: %w", address, serr)
		}
		return nil
	}}
	return lc.ListenPacket(context.Background(), "udp", addr)
}
