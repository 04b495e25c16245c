package pktsock

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Options tunes a Socket; the zero value is a plain blocking socket.
type Options struct {
	// QdiscBypass sends frames past the device's queueing discipline
	// (PACKET_QDISC_BYPASS).
	QdiscBypass bool
	// SendTimeout bounds a blocking send (SO_SNDTIMEO); 0 blocks.
	SendTimeout time.Duration
	// SendBuffer, when positive, sets the send buffer (SO_SNDBUFFORCE
	// when permitted, else SO_SNDBUF).
	SendBuffer int
}

// Socket is a send-only AF_PACKET socket bound to one interface. Send and
// SendBatch are safe for concurrent use (on distinct MsgBatches) and with
// Close; after Close they fail with os.ErrClosed.
type Socket struct {
	mu      sync.RWMutex
	fd      int
	ifindex int
}

// Open opens the socket on ifindex, in the calling OS thread's network
// namespace.
func Open(ifindex int, opts Options) (_ *Socket, err error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket AF_PACKET", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	if opts.QdiscBypass {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return nil, os.NewSyscallError("setsockopt PACKET_QDISC_BYPASS", err)
		}
	}
	if opts.SendTimeout > 0 {
		tv := unix.NsecToTimeval(opts.SendTimeout.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
			return nil, os.NewSyscallError("setsockopt SO_SNDTIMEO", err)
		}
	}
	if opts.SendBuffer > 0 {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, opts.SendBuffer) != nil {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, opts.SendBuffer); err != nil {
				return nil, os.NewSyscallError("setsockopt SO_SNDBUF", err)
			}
		}
	}
	// Protocol 0 in the bind address too: bound to the device for
	// sending, still receiving nothing.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		return nil, fmt.Errorf("ifindex %d: %w", ifindex, os.NewSyscallError("bind AF_PACKET", err))
	}
	return &Socket{fd: fd, ifindex: ifindex}, nil
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
