package rxq

import (
	"errors"
	"net"
)

var (
	// ErrClosed is returned by a Socket's methods after Close.
	ErrClosed = net.ErrClosed
	// ErrNotSupported: the kernel or the device lacks a feature asked for
	// (zero-copy with ZeroCopyForce, AF_XDP itself).
	ErrNotSupported = errors.New("not supported")
	// ErrNotPowerOfTwo: a ring size or frame count is not a power of two.
	ErrNotPowerOfTwo = errors.New("not a power of two")
	// ErrBadOption: a SocketOptions field is out of range.
	ErrBadOption = errors.New("invalid socket option")
	// ErrNoInterface: OpenQueue was given an unknown interface name.
	ErrNoInterface = errors.New("no such interface")
	// ErrNoQueue: the queue index is beyond the interface's RX queues.
	ErrNoQueue = errors.New("no such queue")
	// ErrPermission: AF_XDP needs CAP_NET_ADMIN (and CAP_NET_RAW).
	ErrPermission = errors.New("needs CAP_NET_ADMIN (run as root)")
)
