package netlab

import (
	"errors"
	"net"
	"net/netip"

	"github.com/xdpmux/xdpmux/rxq"
)

// DefaultPrefix is the namespace and interface name prefix used when
// Config.Prefix is empty.
const DefaultPrefix = "xm"

// Config describes a lab.
type Config struct {
	// Queues is the number of rx and tx queues of each veth end
	// (default 1, at most MaxQueues).
	Queues int
	// Prefix starts every namespace and interface name (default
	// DefaultPrefix). At most 6 characters, letters and digits.
	Prefix string
	// MTU of both veth ends (default 1500).
	MTU int
	// IPv6 gives the veth ends addresses of a /64 of 2001:2::/48 as well
	// (RecvAddr6, SendAddr6) with permanent neighbour entries both ways,
	// without duplicate address detection, router solicitations or
	// autoconfiguration (each end keeps its link-local address). Off (the
	// default): IPv6 is disabled in both namespaces.
	IPv6 bool
}

// MaxQueues is the largest Config.Queues accepted.
const MaxQueues = 64

// Lab is two network namespaces joined by a veth pair. Traffic flows from
// SendNS (SendIf, SendAddr) to RecvNS (RecvIf, RecvAddr); the XDP program and
// the AF_XDP sockets go on RecvIf.
type Lab struct {
	RecvNS, SendNS     string // network namespace names (see `ip netns list`)
	RecvIf, SendIf     string // veth end names, each in its namespace
	RecvIndex          int    // ifindex of RecvIf inside RecvNS
	RecvAddr, SendAddr netip.Addr
	// RecvAddr6 and SendAddr6 are 2001:2:0:Y::2 and 2001:2:0:Y::1 (a /64
	// of the IPv6 benchmarking range, Y random) with Config.IPv6, else
	// the zero Addr.
	RecvAddr6, SendAddr6 netip.Addr
	RecvMAC, SendMAC     net.HardwareAddr
	Queues               int
}

// Errors returned by this package.
var (
	// ErrBadConfig: a Config field is out of range.
	ErrBadConfig = errors.New("netlab: bad config")
	// ErrNotSupported: the platform has no network namespaces. It is
	// rxq.ErrNotSupported.
	ErrNotSupported = rxq.ErrNotSupported
)
