//go:build !linux

package netstackep

import "errors"

// PacketSender is a Sender over an AF_PACKET socket; Linux only.
type PacketSender struct{}

// OpenPacketSender fails: AF_PACKET is Linux only.
func OpenPacketSender(int) (*PacketSender, error) {
	return nil, errors.New("netstackep: packet sender: not supported on this platform")
}

// SendFrame implements Sender.
func (*PacketSender) SendFrame(int, []byte) error { return errors.ErrUnsupported }

// Close does nothing.
func (*PacketSender) Close() error { return nil }
