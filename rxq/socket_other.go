//go:build !linux

package rxq

// Socket is an AF_XDP socket; AF_XDP exists only on Linux, so elsewhere
// it cannot be opened.
type Socket struct{ frameSize uint32 }

// NewSocket fails with ErrNotSupported: AF_XDP is Linux-only.
func NewSocket(ifindex, queue int, opts *SocketOptions) (*Socket, error) {
	return nil, ErrNotSupported
}

// OpenQueue fails with ErrNotSupported: AF_XDP is Linux-only.
func OpenQueue(ifname string, queue int, opts *SocketOptions) (*Socket, error) {
	return nil, ErrNotSupported
}
