package xdpprog

import (
	"errors"
	"net"

	"github.com/xdpmux/xdpmux/rxq"
)

// MaxQueues is the number of receive queues the program serves: the size of
// the xsks XSKMAP and of the counters array. Frames arriving on a higher
// queue index are passed to the kernel and not counted.
const MaxQueues = 64

// Mode is the way the program is attached to the interface.
type Mode int

const (
	// ModeNative is driver (native) XDP: the program runs in the driver's
	// receive path, before an skb exists, and sees the real receive queue.
	ModeNative Mode = iota
	// ModeGeneric is generic (skb) XDP: it works on any interface but is
	// slower, and on some drivers (veth) every frame reports queue 0.
	ModeGeneric
)

// String returns "native" or "generic".
func (m Mode) String() string {
	switch m {
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	default:
		return "unknown"
	}
}

// Options tune Attach. The zero value is the default: native mode with a
// fallback to generic mode, claimed frames redirected.
type Options struct {
	// ForceGeneric skips the native attempt and attaches in generic mode.
	ForceGeneric bool
	// DropClaimed makes the program drop claimed frames (XDP_DROP) instead
	// of redirecting them: the benchmark ceiling mode. See SetDropClaimed.
	DropClaimed bool
	// NICHash attaches the xdpmux_nichash entry point instead: loaded
	// bound to the device, it writes the hash the NIC computed into the
	// XDP metadata before each frame (rxq.ReadMeta). Only native mode can
	// run a device-bound program: when the kernel refuses to load or
	// attach it, Attach falls back to the plain program (native, then
	// generic) and Program.NICHash reports false with the reason in
	// Program.NICHashNote.
	NICHash bool
}

// QueueCounters are the program's counters for one receive queue, summed over
// all CPUs.
type QueueCounters struct {
	Queue int
	// Redirected counts claimed frames for which bpf_redirect_map found a
	// socket in xsks and returned XDP_REDIRECT. A frame the socket then
	// cannot take (full rx ring, empty fill ring) is still counted here;
	// the socket's XDP_STATISTICS counts it as dropped.
	Redirected uint64
	// Passed counts every frame given to the kernel (XDP_PASS): not for
	// this host's MAC, not IPv4/IPv6, fragments, not UDP/TCP, malformed or
	// truncated headers, unclaimed (address, port), kernel-owned tuples, and
	// claimed frames whose queue has no socket registered. KernelOwned and
	// NotForHost are parts of Passed.
	Passed uint64
	// Dropped counts claimed frames dropped in drop-claimed mode.
	Dropped uint64
	// KernelOwned counts claimed frames passed because a kernel socket in
	// the interface's namespace owns their 4-tuple (a bound or connected
	// UDP socket; a TCP listener, connection, request or time-wait socket).
	KernelOwned uint64
	// NotForHost counts frames passed because their destination MAC is not
	// the interface's unicast MAC: broadcast, multicast, other MACs
	// (macvlan/ipvlan children).
	NotForHost uint64
}

// Errors returned by this package; test them with errors.Is.
var (
	// ErrPermission: loading or attaching needs CAP_NET_ADMIN and CAP_BPF.
	// It is rxq.ErrPermission.
	ErrPermission = rxq.ErrPermission
	// ErrNotSupported: the kernel, the platform or the interface lacks a
	// needed feature. It is rxq.ErrNotSupported.
	ErrNotSupported = rxq.ErrNotSupported
	// ErrQueueRange: a queue index outside [0, MaxQueues).
	ErrQueueRange = errors.New("xdp: queue index out of range")
	// ErrProto: a protocol other than TCP (6) or UDP (17).
	ErrProto = errors.New("xdp: protocol must be tcp (6) or udp (17)")
	// ErrClosed: the Program was closed.
	ErrClosed = net.ErrClosed
)

// IP protocol numbers accepted by Claim.
const (
	ProtoTCP uint8 = 6
	ProtoUDP uint8 = 17
)
