package dataplane

import (
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// ErrPermission is returned (wrapped, with the cause) by OpenInterface when
// the caller lacks the privileges to attach XDP programs or open AF_XDP
// sockets. It is rxq.ErrPermission (and xdpprog.ErrPermission).
var ErrPermission = rxq.ErrPermission

// InterfaceConfig configures OpenInterface.
type InterfaceConfig struct {
	// Ifname is the interface, in the network namespace of the calling
	// OS thread.
	Ifname string
	// Queues are the receive queues to serve, each once. Nil means every
	// receive queue of the interface. Dataplane queue i (Frame.Queue,
	// Stats().Queues[i]) serves interface queue Queues[i].
	Queues []int
	// Socket configures each queue's AF_XDP socket; the zero value means
	// rxq.DefaultSocketOptions(). SharedUMEM must be nil.
	Socket rxq.SocketOptions
	// XDP configures the XDP program's attachment (native with a generic
	// fallback by default). XDP.NICHash is set by OpenInterface when
	// Config.Hash is HashNIC.
	XDP xdpprog.Options
	// Config configures the dataplane. Sources and Claimer are filled in by
	// OpenInterface; Key nil means the NIC's Toeplitz key when the
	// interface reports one (rxq.ReadRSS, InterfaceInfo.RSS), else
	// rss.DefaultKey; Table.Queues 0 means the interface's receive queue
	// count (its low hash bits pick the queue, SPEC section 3). Unless set,
	// LocalAddrs (then kept up to date), KernelSockets and
	// Access.UnprivilegedPortStart are taken from the interface's network
	// namespace (OpenInterface).
	Config Config
}

// InterfaceInfo describes an open Interface.
type InterfaceInfo struct {
	Ifname     string `json:"ifname"`
	Ifindex    int    `json:"ifindex"`
	Queues     []int  `json:"queues"`      // interface queue of each dataplane queue
	RxQueues   int    `json:"rx_queues"`   // receive queues of the interface
	XDPMode    string `json:"xdp_mode"`    // "native" or "generic"
	SocketMode string `json:"socket_mode"` // "copy" or "zerocopy"
	NeedWakeup bool   `json:"need_wakeup"` // sockets bound with XDP_USE_NEED_WAKEUP
	// HashMode is where the packet hash comes from (Config.Hash as in
	// force: "nic" only when the xdpmux_nichash program is attached);
	// HashNote says why "nic" was asked for and not given, or what it
	// means.
	HashMode string `json:"hash_mode"`
	HashNote string `json:"hash_note,omitempty"`
	// RSS is the interface's RSS configuration as ethtool reports it,
	// compared with the defaults (nil for an Interface built otherwise).
	RSS *RSSStatus `json:"rss,omitempty"`
}

// QueueXDPStats are the kernel-side counters of one served queue: the AF_XDP
// socket's XDP_STATISTICS and the XDP program's counters for the queue.
//
// A claimed frame that reaches the program on a served queue is counted in
// Program.Redirected; the socket then either puts it on its rx ring (the
// worker counts it in QueueStats.RX) or drops it, counted in
// Socket.RxDropped (no free frame on the fill ring: in copy mode such a drop
// also counts in Socket.RxFillRingEmptyDescs) or Socket.RxRingFull.
type QueueXDPStats struct {
	Queue   int                   `json:"queue"`    // dataplane queue
	IfQueue int                   `json:"if_queue"` // interface queue
	Socket  rxq.Stats             `json:"socket"`
	Program xdpprog.QueueCounters `json:"program"`
}
