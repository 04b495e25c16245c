// Package pktsock sends whole Ethernet frames on an interface through an
// AF_PACKET socket: netstackep's fallback transmit path while a dataplane
// endpoint cannot send frames on its queue's AF_XDP TX ring itself. The
// frames go out through the kernel's qdisc and driver (dev_queue_xmit), not
// through AF_XDP. The socket receives nothing (protocol 0).
package pktsock

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Socket is a send-only AF_PACKET socket bound to one interface. Send is
// safe for concurrent use; Close must not race with Send.
type Socket struct {
	mu      sync.RWMutex
	fd      int
	ifindex int
}

// Open opens the socket on ifindex, in the calling OS thread's network
// namespace.
func Open(ifindex int) (*Socket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket AF_PACKET", err)
	}
	s := &Socket{fd: fd, ifindex: ifindex}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ifindex %d: %w", ifindex, os.NewSyscallError("bind AF_PACKET", err))
	}
	return s, nil
}

// Send transmits one whole Ethernet frame on the bound interface (a write
// without address: the kernel takes the protocol from the frame's
// ethertype). The kernel copies it.
func (s *Socket) Send(frame []byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return os.ErrClosed
	}
	for {
		_, err := unix.Write(s.fd, frame)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("write AF_PACKET", err)
		}
		return nil
	}
}

// Close closes the socket. It is idempotent.
func (s *Socket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}
