package lab

import (
	"fmt"
	"log"
	"time"

	"github.com/xdpmux/xdpmux/rxq"

	"github.com/xdpmux/xdpmux/bench/txgen"
	"github.com/xdpmux/xdpmux/localgroup"
)

// ErrNotSupported: the harness needs Linux. It is rxq.ErrNotSupported.
var ErrNotSupported = rxq.ErrNotSupported

// Config describes a benchmark run. The zero value of each field means its
// default; Quick() gives the CI smoke-run settings.
type Config struct {
	// Sockets are the group sizes measured for xdpmux and the kernel
	// (default 1, 2, 4, 8).
	Sockets []int
	// Warmup is the time the generator runs before each window (default
	// 1 s); Window is the measured time (default 3 s).
	Warmup, Window time.Duration
	// FixedRate, when > 0, adds a run per system at this offered rate in
	// pps (LoadFixed) next to the saturation run.
	FixedRate float64
	// Generator is "auto" (trafgen when installed, else txgen), "trafgen"
	// or "txgen". GenCPUs is trafgen's --cpus (default: all CPUs).
	Generator string
	GenCPUs   int
	// TxgenBackend is txgen's backend name: "auto", "afxdp" or "afpacket"
	// (default auto).
	TxgenBackend string
	txgenBackend txgen.Backend
	// Flows is the number of generator flows (source ports; default 4096);
	// Size the frame size without FCS (default 64); Port the UDP
	// destination port (default 9000).
	Flows int
	Size  int
	Port  uint16
	// NumFrames is the UMEM frames per queue of the AF_XDP sockets
	// (default 16384, all on the fill ring); RingSize the
	// xdpmux endpoint ring (default DefaultRingSize).
	NumFrames int
	RingSize  int
	// RcvBuf, when > 0, is SO_RCVBUF of the tuned kernel sockets
	// (default: net.core.rmem_max, as an operator would set it; the
	// kernel-reuseport-untuned row keeps the system default).
	// BusyPollUs is SO_BUSY_POLL of the kernel-busypoll row (default
	// DefaultBusyPollUs).
	RcvBuf     int
	BusyPollUs int
	// DisruptionFlows is the number of flows sent before and after a
	// member leaves (default 2048); DisruptionMembers the group sizes
	// (default 8); Policies the xdpmux policies compared (default
	// threshold, modulo, maglev). DisruptionMembers empty and
	// NoDisruption set: skip.
	DisruptionFlows   int
	DisruptionMembers []int
	Policies          []localgroup.Policy
	NoDisruption      bool
	// Handler adds, after each xdpmux group, the same group with
	// run-to-completion members (SystemXDPMuxHandler).
	Handler bool
	// Skip names systems not to measure (SystemXDPDrop, ...).
	Skip map[string]bool
	// ProfileDir, when set, gets a CPU profile (pprof) of this process for
	// each xdpmux, xdpmux-handler and kernel saturation window:
	// <system>-<N>.pprof.
	ProfileDir string
	// Quick marks the report as a smoke run.
	Quick bool
	// Logf receives progress lines (default log.Printf).
	Logf func(format string, args ...any)
}

// Queues is the number of veth queues of the lab (and AF_XDP sockets).
const Queues = 2

// DefaultBusyPollUs is SO_BUSY_POLL of the kernel-busypoll row, in
// microseconds (the value the kernel's documentation suggests to start
// with).
const DefaultBusyPollUs = 50

// DefaultRingSize is the xdpmux endpoint ring of the lab: 4096 slots per
// (queue, endpoint), four times dataplane.DefaultRingSize. On 2 CPUs shared
// with the generator a reader is often off CPU for a few milliseconds;
// rxdrop's buffer for that is its rx ring (NumFrames/2 slots), xdpmux's is
// the endpoint ring, so the lab gives it a comparable depth.
const DefaultRingSize = 4096

// ReadBatch is how many packets every reader of the lab (rxdrop, xdpmux,
// kernel) takes per call: Receive, rxq.Socket.Receive, recvmmsg.
const ReadBatch = 256

// Quick returns the CI smoke-run settings: short windows, every system,
// group sizes 1 and 2, a low fixed rate (so that every field of the
// report is filled), a small disruption test; well under a minute.
func Quick() Config {
	return Config{
		Sockets: []int{1, 2},
		Warmup:  200 * time.Millisecond, Window: 300 * time.Millisecond,
		FixedRate: 20000,
		Flows:     1024, DisruptionFlows: 512, NumFrames: 4096,
		Quick: true,
	}
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// fill sets the defaults and checks the fields.
func (c *Config) fill() error {
	if len(c.Sockets) == 0 {
		c.Sockets = []int{1, 2, 4, 8}
	}
	for _, n := range c.Sockets {
		if n < 1 || n > 256 {
			return fmt.Errorf("lab: group size %d: want 1 to 256", n)
		}
	}
	if c.Warmup == 0 {
		c.Warmup = time.Second
	}
	if c.Window == 0 {
		c.Window = 3 * time.Second
	}
	if c.Warmup < 0 || c.Window < 0 || c.FixedRate < 0 {
		return fmt.Errorf("lab: negative warmup %v, window %v or rate %v", c.Warmup, c.Window, c.FixedRate)
	}
	if c.Flows == 0 {
		c.Flows = 4096
	}
	if c.Flows < 1 || c.Flows > txgen.NumSrcPorts {
		return fmt.Errorf("lab: flows %d: want 1 to %d", c.Flows, txgen.NumSrcPorts)
	}
	if c.Size == 0 {
		c.Size = 64
	}
	if c.Size < txgen.MinSize || c.Size > 1514 {
		return fmt.Errorf("lab: frame size %d: want %d to 1514", c.Size, txgen.MinSize)
	}
	if c.Port == 0 {
		c.Port = 9000
	}
	if c.NumFrames == 0 {
		c.NumFrames = 16384
	}
	if c.RingSize == 0 {
		c.RingSize = DefaultRingSize
	}
	if c.BusyPollUs == 0 {
		c.BusyPollUs = DefaultBusyPollUs
	}
	if c.RcvBuf < 0 || c.BusyPollUs < 0 {
		return fmt.Errorf("lab: negative rcvbuf %d or busy poll %d", c.RcvBuf, c.BusyPollUs)
	}
	if c.DisruptionFlows == 0 {
		c.DisruptionFlows = 2048
	}
	if len(c.DisruptionMembers) == 0 {
		c.DisruptionMembers = []int{8}
	}
	for _, n := range c.DisruptionMembers {
		if n < 2 {
			return fmt.Errorf("lab: disruption group size %d: want at least 2", n)
		}
	}
	if len(c.Policies) == 0 {
		c.Policies = []localgroup.Policy{localgroup.Threshold, localgroup.Modulo, localgroup.Maglev}
	}
	b := c.TxgenBackend
	if b == "" {
		b = "auto"
	}
	var err error
	if c.txgenBackend, err = txgen.ParseBackend(b); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}
