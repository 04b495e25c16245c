package netstackep

import (
	"sync"

	"github.com/xdpmux/xdpmux/dataplane"
)

// Framer puts the link header an endpoint learned for an IP packet's
// destination before the packet: (*dataplane.Endpoint).AppendFrame. It
// appends the frame to dst and returns it with the queue the destination
// last used; for a destination never heard from it fails with an error
// matching dataplane.ErrUnknownPeer.
type Framer interface {
	AppendFrame(dst, pkt []byte) ([]byte, int, error)
}

var _ Framer = (*dataplane.Endpoint)(nil)

// framedSender is a Sender that frames each packet with f and hands the
// frame to send, which must copy it.
type framedSender struct {
	f    Framer
	send func(frame []byte) error

	mu  sync.Mutex // guards buf
	buf []byte
}

var _ Sender = (*framedSender)(nil)

// SendIP implements Sender; the queue is the frame sink's business.
func (s *framedSender) SendIP(_ int, pkt []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	frame, _, err := s.f.AppendFrame(s.buf[:0], pkt)
	if err != nil {
		return err
	}
	s.buf = frame[:0]
	return s.send(frame)
}
