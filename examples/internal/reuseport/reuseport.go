// Package reuseport opens kernel sockets with SO_REUSEPORT: the -kernel
// variants of the examples, which run the same handlers on N kernel sockets
// so that xdpmux can be compared with the kernel's own load distribution.
package reuseport

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

var listenConfig = net.ListenConfig{Control: control}

// ListenPacket opens a packet socket (e.g. "udp") on addr with
// SO_REUSEPORT, in the calling OS thread's network namespace.
func ListenPacket(network, addr string) (net.PacketConn, error) {
	return listenConfig.ListenPacket(context.Background(), network, addr)
}

// Listen opens a stream listener (e.g. "tcp") on addr with SO_REUSEPORT, in
// the calling OS thread's network namespace.
func Listen(network, addr string) (net.Listener, error) {
	return listenConfig.Listen(context.Background(), network, addr)
}

func control(network, address string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) { serr = setReusePort(fd) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("setsockopt SO_REUSEPORT on %s: %w", address, serr)
	}
	return nil
}
