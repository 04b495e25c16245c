//go:build !linux

package netstackep

import "errors"

// PacketSender transmits through an AF_PACKET socket; Linux only.
type PacketSender struct{}

// OpenPacketSender fails: AF_PACKET is Linux only.
func OpenPacketSender(int) (*PacketSender, error) {
	return nil, errors.New("netstackep: packet sender: not supported on this platform")
}

// For returns a Sender whose every send fails with errors.ErrUnsupported.
func (*PacketSender) For(f Framer) Sender {
	return &framedSender{f: f, send: func([]byte) error { return errors.ErrUnsupported }}
}

// Close does nothing.
func (*PacketSender) Close() error { return nil }
