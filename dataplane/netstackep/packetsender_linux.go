package netstackep

import (
	"fmt"

	"github.com/xdpmux/xdpmux/dataplane/pktsock"
)

// PacketSender transmits through an AF_PACKET socket on the interface: the
// fallback while the dataplane's sockets have no TX ring (the frames then
// leave through the kernel's qdisc, not the queue's AF_XDP TX ring). It
// sends frames, not IP packets: For gives each Link a Sender that frames
// the Link's packets with the link headers its endpoint learned. One
// PacketSender may serve several Links. Safe for concurrent use; close it
// after the stacks that use it are destroyed.
type PacketSender struct{ s *pktsock.Socket }

// OpenPacketSender opens a PacketSender on ifindex, in the calling OS
// thread's network namespace (in a netlab lab: inside lab.InRecv).
func OpenPacketSender(ifindex int) (*PacketSender, error) {
	s, err := pktsock.Open(ifindex, pktsock.Options{})
	if err != nil {
		return nil, fmt.Errorf("netstackep: packet sender: %w", err)
	}
	return &PacketSender{s: s}, nil
}

// For returns a Sender (for Options.Sender) that frames each IP packet
// with the link header f (the Link's *dataplane.Endpoint) learned for its
// destination and sends the frame through p; the queue is ignored.
func (p *PacketSender) For(f Framer) Sender {
	return &framedSender{f: f, send: p.s.Send, buf: make([]byte, 0, 256)}
}

// Close closes the socket.
func (p *PacketSender) Close() error { return p.s.Close() }
