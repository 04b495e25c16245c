package txgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/xdpmux/xdpmux/rxq"
)

// Defaults and limits of Config.
const (
	DefaultFlows = 1024
	DefaultSize  = 64
	// MinSize is the smallest frame: a minimal Ethernet frame without its
	// FCS, which also leaves room for the PayloadHeader.
	MinSize = 60
	// MaxFlows bounds Config.Flows (each flow costs about 64 bytes: its
	// stamp, twice, and its sequence number).
	MaxFlows = 1 << 20
	// FirstSrcPort and NumSrcPorts give the source ports flows use:
	// FirstSrcPort, FirstSrcPort+1, ... (non-privileged ports only).
	FirstSrcPort = 1024
	NumSrcPorts  = 65536 - FirstSrcPort
)

// BenchRange is the range destinations must lie in unless
// Config.AllowAnyDst is set: 198.18.0.0/15, reserved for benchmarking
// (RFC 2544).
var BenchRange = netip.MustParsePrefix("198.18.0.0/15")

// BenchRange6 is the IPv6 range destinations must lie in unless
// Config.AllowAnyDst is set: 2001:2::/48, reserved for benchmarking
// (RFC 5180).
var BenchRange6 = netip.MustParsePrefix("2001:2::/48")

// MinSize6 is the smallest IPv6 frame: Ethernet, IPv6 and UDP headers and
// the payload header (62 + 16 bytes).
const MinSize6 = ethLen + ip6Len + udpLen + PayloadHeaderLen

// Backend selects how frames are sent.
type Backend int

const (
	// Auto uses AF_XDP and falls back to AF_PACKET when the AF_XDP TX
	// setup fails.
	Auto Backend = iota
	// AFXDP sends through AF_XDP sockets with TX rings, one per TX queue.
	AFXDP
	// AFPacket sends through AF_PACKET SOCK_RAW sockets with sendmmsg.
	AFPacket
)

// String returns "auto", "afxdp" or "afpacket".
func (b Backend) String() string {
	switch b {
	case Auto:
		return "auto"
	case AFXDP:
		return "afxdp"
	case AFPacket:
		return "afpacket"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// ParseBackend parses "auto", "afxdp" or "afpacket".
func ParseBackend(s string) (Backend, error) {
	for _, b := range []Backend{Auto, AFXDP, AFPacket} {
		if strings.EqualFold(s, b.String()) {
			return b, nil
		}
	}
	return 0, fmt.Errorf("backend %q: want auto, afxdp or afpacket: %w", s, ErrBadConfig)
}

// Config describes what to send. The zero value of each optional field
// means its default.
type Config struct {
	// Ifname is the interface to send on, in the network namespace of the
	// thread that calls New.
	Ifname string
	// SrcMAC is the source MAC address (default: the interface's).
	SrcMAC net.HardwareAddr
	// DstMAC is the destination MAC address. Nil: resolved from the
	// kernel's neighbour table (for Dst, or for the gateway of the route
	// to Dst); New fails with ErrNoNeighbour when there is no entry.
	DstMAC net.HardwareAddr
	// Src is the prefix source addresses are drawn from, of Dst's family
	// (default: the interface's first IPv4 address as a /32, or for an
	// IPv6 Dst its first global IPv6 address as a /128). With an IPv4
	// prefix shorter than /31 the network and broadcast addresses are
	// skipped.
	Src netip.Prefix
	// Dst is the destination IPv4 or IPv6 address and UDP port (port not
	// 0). IPv6 frames carry a UDP checksum (mandatory over IPv6), updated
	// per frame for its sequence number.
	Dst netip.AddrPort
	// Flows is the number of distinct (source address, source port)
	// pairs, default DefaultFlows, at most MaxFlows. Flow f uses source
	// address f mod A (A: the addresses of Src, at most Flows) and source
	// port FirstSrcPort + f/A: varied source ports spread the flows over
	// the receiver's RSS queues.
	Flows int
	// Size is the frame size including the Ethernet header and excluding
	// the FCS: default DefaultSize, at least MinSize, at most the
	// interface's MTU + 14.
	Size int
	// Rate is the total rate in packets per second; 0 sends as fast as
	// possible.
	Rate float64
	// Duration stops Run after this long (0: no limit).
	Duration time.Duration
	// Count stops Run after this many packets in all (0: no limit).
	Count uint64
	// ProgressEvery is how often Run calls its progress function
	// (default, and at most, a second; a live view drawn each second
	// wants a shorter one, so that its figure is not a second old).
	ProgressEvery time.Duration
	// Queues are the TX queues used by AF_XDP, one socket and goroutine
	// each (default: all the interface's TX queues). AF_PACKET uses as
	// many sockets (at most GOMAXPROCS) and lets the kernel pick queues.
	Queues []int
	// Backend picks the sending mechanism (default Auto).
	Backend Backend
	// AllowAnyDst lifts the guard that Dst lie in BenchRange (IPv6:
	// BenchRange6).
	AllowAnyDst bool
	// Logf receives the few log lines (the Auto fallback); nil: log.Printf.
	Logf func(format string, args ...any)
}

// Stats is what Run reports.
type Stats struct {
	// Sent counts frames handed to the device: completed on the AF_XDP
	// completion ring, or taken by sendmmsg.
	Sent uint64
	// Errors counts frames that failed: dropped by the kernel on send
	// (ENOBUFS), invalid TX descriptors, frames not completed when Run
	// gave up waiting.
	Errors uint64
	// Elapsed is the time since Run started.
	Elapsed time.Duration
	// Backend names what sends: "afxdp", "afpacket", or
	// "afpacket (afxdp failed)" after Auto's fallback.
	Backend string
}

// PPS is Sent per second of Elapsed (0 when no time elapsed).
func (s Stats) PPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Elapsed.Seconds()
}

// Errors returned by this package; test them with errors.Is.
var (
	// ErrBadConfig: a Config field is out of range; the error names it.
	ErrBadConfig = errors.New("bad generator config")
	// ErrDstOutsideBenchRange: Config.Dst is outside BenchRange and
	// AllowAnyDst is not set.
	ErrDstOutsideBenchRange = errors.New("outside the benchmarking range " + BenchRange.String() + " (IPv6: " + BenchRange6.String() + ")" +
		" (set AllowAnyDst, -allow-any-dst, to send there)")
	// ErrNoNeighbour: DstMAC is nil and the kernel's neighbour table has
	// no usable entry for the next hop.
	ErrNoNeighbour = errors.New("no neighbour entry: give the destination MAC address (DstMAC, -dst-mac)")
	// ErrNotSupported: the platform, kernel or interface lacks something
	// the chosen backend needs. It is rxq.ErrNotSupported.
	ErrNotSupported = rxq.ErrNotSupported
	// ErrRunning: Run was called while another Run was in progress, or
	// after Close.
	ErrRunning = errors.New("generator already running or closed")
)

func badConfig(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrBadConfig)
}

// check validates what can be validated without the system, and fills in
// the defaults that need nothing from it.
func (c *Config) check() error {
	if c.Ifname == "" {
		return badConfig("interface name empty")
	}
	if len(c.Ifname) >= 16 || strings.ContainsAny(c.Ifname, "/ \t\n") {
		return badConfig("interface name %q invalid", c.Ifname)
	}
	dst := c.Dst.Addr().Unmap()
	if !dst.IsValid() || dst.Zone() != "" {
		return badConfig("destination %q: want an IPv4 or IPv6 address and port", c.Dst)
	}
	if c.Dst.Port() == 0 {
		return badConfig("destination %s: port 0", c.Dst)
	}
	c.Dst = netip.AddrPortFrom(dst, c.Dst.Port())
	if !c.AllowAnyDst && !BenchRange.Contains(dst) && !BenchRange6.Contains(dst) {
		return fmt.Errorf("destination %s: %w", dst, ErrDstOutsideBenchRange)
	}
	if c.Src.IsValid() {
		a := c.Src.Addr()
		switch {
		case dst.Is4() && a.Unmap().Is4():
			c.Src = netip.PrefixFrom(a.Unmap(), min(c.Src.Bits(), 32)).Masked()
		case dst.Is6() && a.Is6() && !a.Is4In6():
			c.Src = c.Src.Masked()
		default:
			return badConfig("source range %s: want an %s prefix for destination %s", c.Src, family(dst), dst)
		}
	} else if c.Src != (netip.Prefix{}) {
		return badConfig("source range %s invalid", c.Src)
	}
	switch {
	case c.Flows == 0:
		c.Flows = DefaultFlows
	case c.Flows < 0 || c.Flows > MaxFlows:
		return badConfig("flows %d: want 1 to %d", c.Flows, MaxFlows)
	}
	if c.Src.IsValid() {
		if a := srcAddrs(c.Src); uint64(c.Flows) > a*NumSrcPorts {
			return badConfig("flows %d: source range %s gives only %d (address, port) pairs",
				c.Flows, c.Src, a*NumSrcPorts)
		}
	}
	minSize := MinSize
	if dst.Is6() {
		minSize = MinSize6
	}
	switch {
	case c.Size == 0:
		c.Size = max(DefaultSize, minSize)
	case c.Size < minSize || c.Size > 65535+14:
		return badConfig("size %d: want %d to MTU+14", c.Size, minSize)
	}
	if math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate < 0 {
		return badConfig("rate %v: want a finite number >= 0", c.Rate)
	}
	if c.Duration < 0 {
		return badConfig("duration %v: negative", c.Duration)
	}
	seen := map[int]bool{}
	for _, q := range c.Queues {
		if q < 0 || q > 4095 {
			return badConfig("queue %d out of range", q)
		}
		if seen[q] {
			return badConfig("queue %d given twice", q)
		}
		seen[q] = true
	}
	switch c.Backend {
	case Auto, AFXDP, AFPacket:
	default:
		return badConfig("backend %d unknown", int(c.Backend))
	}
	for _, m := range []struct {
		name string
		mac  net.HardwareAddr
	}{{"source", c.SrcMAC}, {"destination", c.DstMAC}} {
		if m.mac != nil && len(m.mac) != 6 {
			return badConfig("%s MAC %s: want 6 bytes", m.name, m.mac)
		}
	}
	return nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// srcAddrs is how many source addresses p offers: IPv4, all of a /31 or
// /32, the others without network and broadcast address; IPv6, all; at
// most 1<<24.
func srcAddrs(p netip.Prefix) uint64 {
	if p.Addr().Is6() {
		return uint64(1) << min(128-p.Bits(), 24)
	}
	bits := 32 - p.Bits()
	if bits > 24 {
		bits = 24
	}
	n := uint64(1) << bits
	if p.Bits() <= 30 {
		n -= 2
	}
	return n
}

// srcAddr6 returns IPv6 source address i (0 <= i < srcAddrs(p)).
func srcAddr6(p netip.Prefix, i uint64) [16]byte {
	b := p.Masked().Addr().As16()
	lo := binary.BigEndian.Uint64(b[8:]) + i // i < 1<<24 stays inside p
	binary.BigEndian.PutUint64(b[8:], lo)
	return b
}

// srcAddr returns IPv4 source address i (0 <= i < srcAddrs(p)).
func srcAddr(p netip.Prefix, i uint64) [4]byte {
	if p.Bits() <= 30 {
		i++ // skip the network address
	}
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i)
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
