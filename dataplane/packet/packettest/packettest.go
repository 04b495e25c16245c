// Package packettest builds Ethernet frames for tests, fuzz seeds and
// tools: UDP and TCP over IPv4 and IPv6, optionally VLAN-tagged, with valid
// lengths and checksums. It is built on gopacket, which the data path
// itself never imports; nothing here is meant for the hot path.
//
// The builders panic on misuse (an IPv6 address given to UDP4, a VLAN ID
// above 4095): they are test helpers, and a bad argument is a bug in the
// test.
package packettest

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Default MAC addresses of the frames built here (locally administered).
var (
	DefaultSrcMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	DefaultDstMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
)

// VLAN tag protocol identifiers.
const (
	TPID8021Q  = 0x8100 // 802.1Q customer tag
	TPID8021AD = 0x88a8 // 802.1ad service tag
	TPID9100   = 0x9100 // pre-standard QinQ tag
)

// Option changes how a frame is built.
type Option func(*config)

type tag struct{ tpid, id uint16 }

type config struct {
	src, dst net.HardwareAddr
	tags     []tag
	tcpFlags uint8 // bit 0 SYN, bit 1 ACK; zero: PSH|ACK
}

// VLAN adds an 802.1Q tag; several tags are stacked outermost first.
func VLAN(id uint16) Option { return Tag(TPID8021Q, id) }

// QinQ adds an 802.1ad service tag followed by an 802.1Q customer tag.
func QinQ(outer, inner uint16) Option {
	return func(c *config) {
		Tag(TPID8021AD, outer)(c)
		Tag(TPID8021Q, inner)(c)
	}
}

// Tag adds a VLAN tag with any TPID (even one the parser does not know).
func Tag(tpid, id uint16) Option {
	return func(c *config) { c.tags = append(c.tags, tag{tpid, id}) }
}

// MACs sets the Ethernet source and destination addresses.
func MACs(src, dst net.HardwareAddr) Option {
	return func(c *config) { c.src, c.dst = src, dst }
}

// SYN makes a TCP frame a bare SYN (no ACK, no payload expected).
func SYN() Option { return func(c *config) { c.tcpFlags = 1 } }

func newConfig(opts []Option) *config {
	c := &config{src: DefaultSrcMAC, dst: DefaultDstMAC}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Link returns the Ethernet header and VLAN tags (as Dot1Q layers) of a
// frame carrying ethertype et, for building frames by hand with Serialize.
func Link(et layers.EthernetType, opts ...Option) []gopacket.SerializableLayer {
	return newConfig(opts).link(et)
}

func (c *config) link(et layers.EthernetType) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: c.src, DstMAC: c.dst, EthernetType: et}
	ls := []gopacket.SerializableLayer{eth}
	if len(c.tags) == 0 {
		return ls
	}
	eth.EthernetType = layers.EthernetType(c.tags[0].tpid)
	for i, tg := range c.tags {
		next := et
		if i+1 < len(c.tags) {
			next = layers.EthernetType(c.tags[i+1].tpid)
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: tg.id, Type: next})
	}
	return ls
}

// Serialize serializes layers with lengths fixed and checksums computed.
// Frames shorter than 60 bytes are padded to 60, as on the wire.
func Serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	o := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, o, ls...); err != nil {
		panic(fmt.Sprintf("packettest: serialize: %v", err))
	}
	return append([]byte(nil), buf.Bytes()...)
}

// IPv4 returns an IPv4 header layer from src to dst carrying proto.
func IPv4(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	if !src.Is4() || !dst.Is4() {
		panic(fmt.Sprintf("packettest: IPv4 %v > %v: not IPv4 addresses", src, dst))
	}
	s, d := src.As4(), dst.As4()
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto,
		SrcIP: net.IP(s[:]), DstIP: net.IP(d[:])}
}

// IPv6 returns an IPv6 header layer from src to dst whose next header is next.
func IPv6(src, dst netip.Addr, next layers.IPProtocol) *layers.IPv6 {
	if !src.Is6() || !dst.Is6() || src.Is4In6() || dst.Is4In6() {
		panic(fmt.Sprintf("packettest: IPv6 %v > %v: not IPv6 addresses", src, dst))
	}
	s, d := src.As16(), dst.As16()
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: net.IP(s[:]), DstIP: net.IP(d[:])}
}

// UDPLayer returns a UDP header layer; set its network layer for the
// checksum with SetNetworkLayerForChecksum before serializing.
func UDPLayer(src, dst uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(src), DstPort: layers.UDPPort(dst)}
}

// TCPLayer returns a TCP header layer (PSH|ACK, or SYN with the SYN option).
func TCPLayer(src, dst uint16, opts ...Option) *layers.TCP {
	c := newConfig(opts)
	t := &layers.TCP{SrcPort: layers.TCPPort(src), DstPort: layers.TCPPort(dst),
		Seq: 1, Window: 65535}
	if c.tcpFlags&1 != 0 {
		t.SYN = true
	} else {
		t.Ack, t.ACK, t.PSH = 1, true, true
	}
	return t
}

// UDP4 builds an Ethernet/IPv4/UDP frame.
func UDP4(src, dst netip.AddrPort, payload []byte, opts ...Option) []byte {
	ip := IPv4(src.Addr(), dst.Addr(), layers.IPProtocolUDP)
	return udp(ip, layers.EthernetTypeIPv4, src, dst, payload, opts)
}

// UDP6 builds an Ethernet/IPv6/UDP frame.
func UDP6(src, dst netip.AddrPort, payload []byte, opts ...Option) []byte {
	ip := IPv6(src.Addr(), dst.Addr(), layers.IPProtocolUDP)
	return udp(ip, layers.EthernetTypeIPv6, src, dst, payload, opts)
}

// TCP4 builds an Ethernet/IPv4/TCP frame.
func TCP4(src, dst netip.AddrPort, payload []byte, opts ...Option) []byte {
	ip := IPv4(src.Addr(), dst.Addr(), layers.IPProtocolTCP)
	return tcp(ip, layers.EthernetTypeIPv4, src, dst, payload, opts)
}

// TCP6 builds an Ethernet/IPv6/TCP frame.
func TCP6(src, dst netip.AddrPort, payload []byte, opts ...Option) []byte {
	ip := IPv6(src.Addr(), dst.Addr(), layers.IPProtocolTCP)
	return tcp(ip, layers.EthernetTypeIPv6, src, dst, payload, opts)
}

type networkLayer interface {
	gopacket.NetworkLayer
	gopacket.SerializableLayer
}

func udp(ip networkLayer, et layers.EthernetType, src, dst netip.AddrPort, payload []byte, opts []Option) []byte {
	u := UDPLayer(src.Port(), dst.Port())
	if err := u.SetNetworkLayerForChecksum(ip); err != nil {
		panic(fmt.Sprintf("packettest: %v", err))
	}
	ls := append(newConfig(opts).link(et), ip, u, gopacket.Payload(payload))
	return Serialize(ls...)
}

func tcp(ip networkLayer, et layers.EthernetType, src, dst netip.AddrPort, payload []byte, opts []Option) []byte {
	t := TCPLayer(src.Port(), dst.Port(), opts...)
	if err := t.SetNetworkLayerForChecksum(ip); err != nil {
		panic(fmt.Sprintf("packettest: %v", err))
	}
	ls := append(newConfig(opts).link(et), ip, t, gopacket.Payload(payload))
	return Serialize(ls...)
}
