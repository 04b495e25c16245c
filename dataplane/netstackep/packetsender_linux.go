package netstackep

import (
	"fmt"

	"github.com/xdpmux/xdpmux/dataplane/pktsock"
)

// PacketSender is a Sender that transmits through an AF_PACKET socket on
// the interface: the fallback while the dataplane endpoint has no
// SendFrame (the frames then leave through the kernel's qdisc, not the
// queue's AF_XDP TX ring; the queue argument is ignored). One PacketSender
// may serve several Links. Safe for concurrent use; close it after the
// stacks that use it are destroyed.
type PacketSender struct{ s *pktsock.Socket }

var _ Sender = (*PacketSender)(nil)

// OpenPacketSender opens a PacketSender on ifindex, in the calling OS
// thread's network namespace (in a netlab lab: inside lab.InRecv).
func OpenPacketSender(ifindex int) (*PacketSender, error) {
	s, err := pktsock.Open(ifindex, pktsock.Options{})
	if err != nil {
		return nil, fmt.Errorf("netstackep: packet sender: %w", err)
	}
	return &PacketSender{s: s}, nil
}

// SendFrame implements Sender.
func (p *PacketSender) SendFrame(_ int, frame []byte) error { return p.s.Send(frame) }

// Close closes the socket.
func (p *PacketSender) Close() error { return p.s.Close() }
