package main

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// listenReusePort opens a kernel TCP listener on addr with SO_REUSEPORT, in
// the calling OS thread's network namespace: the -kernel variant.
func listenReusePort(addr string) (net.Listener, error) {
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
	return lc.Listen(context.Background(), "tcp", addr)
}

// isVeth reports whether ifname, in the calling OS thread's network
// namespace, is a veth device.
func isVeth(ifname string) bool {
	l, err := netlink.LinkByName(ifname)
	return err == nil && l.Type() == "veth"
}
