package rxq

import (
	"errors"
	"net"
)

var (
	// ErrClosed is returned by a Socket's methods after Close.
	ErrClosed = net.ErrClosed
	// ErrNotSupported: the platform, the kernel or the device lacks a
	// feature asked for (AF_XDP itself, zero-copy with ZeroCopyForce, an XDP
	// bpf_link, network namespaces). It is the project's one definition:
	// xdpprog, dataplane and the bench packages alias it, so
	// errors.Is(err, rxq.ErrNotSupported) holds for all of them.
	ErrNotSupported = errors.New("not supported")
	// ErrNotPowerOfTwo: a ring size or frame count is not a power of two.
	ErrNotPowerOfTwo = errors.New("not a power of two")
	// ErrBadOption: a SocketOptions field is out of range.
	ErrBadOption = errors.New("invalid socket option")
	// ErrNoInterface: OpenQueue was given an unknown interface name.
	ErrNoInterface = errors.New("no such interface")
	// ErrNoQueue: the queue index is beyond the interface's RX queues.
	ErrNoQueue = errors.New("no such queue")
	// ErrPermission: the caller lacks a privilege: AF_XDP needs CAP_NET_RAW
	// and CAP_NET_ADMIN, loading and attaching the XDP program CAP_BPF and
	// CAP_NET_ADMIN. Like ErrNotSupported it is defined once, here, and
	// aliased by xdpprog and dataplane.
	ErrPermission = errors.New("permission denied: needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF)")
)
