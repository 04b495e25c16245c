package packet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/pcb"
)

var (
	src4 = netip.MustParseAddrPort("198.18.0.1:40000")
	dst4 = netip.MustParseAddrPort("198.19.0.2:53")
	src6 = netip.MustParseAddrPort("[2001:db8::1]:40001")
	dst6 = netip.MustParseAddrPort("[2001:db8:1::2]:443")
)

// mutate returns a copy of frame with f applied.
func mutate(frame []byte, f func(b []byte)) []byte {
	b := append([]byte(nil), frame...)
	f(b)
	return b
}

// put16 writes v big-endian at off.
func put16(b []byte, off int, v uint16) { binary.BigEndian.PutUint16(b[off:], v) }

// extHdr returns an n8*8-byte hop-by-hop/destination-options style
// extension header (next, hdrlen, PadN filling the rest).
func extHdr(next layers.IPProtocol, n8 int) gopacket.Payload {
	b := make([]byte, n8*8)
	b[0], b[1], b[2], b[3] = byte(next), byte(n8-1), 1, byte(n8*8-4)
	return b
}

// routingHdr returns a 24-byte type-0 routing header with one address and
// no segments left.
func routingHdr(next layers.IPProtocol) gopacket.Payload {
	b := make([]byte, 24)
	b[0], b[1] = byte(next), 2
	copy(b[8:], netip.MustParseAddr("2001:db8:ff::1").AsSlice())
	return b
}

// ahHdr returns a 24-byte authentication header (payload length 4).
func ahHdr(next layers.IPProtocol) gopacket.Payload {
	b := make([]byte, 24)
	b[0], b[1] = byte(next), 4
	binary.BigEndian.PutUint32(b[4:], 0x1000) // SPI
	binary.BigEndian.PutUint32(b[8:], 1)      // sequence
	return b
}

// fragHdr returns an 8-byte IPv6 fragment header.
func fragHdr(next layers.IPProtocol, offset uint16, more bool) gopacket.Payload {
	b := make([]byte, 8)
	b[0] = byte(next)
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	binary.BigEndian.PutUint32(b[4:], 0xabcd)
	return b
}

// udp6Ext builds Ethernet/IPv6/exts.../UDP with first the IPv6 next header.
func udp6Ext(first layers.IPProtocol, exts ...gopacket.SerializableLayer) []byte {
	ip := packettest.IPv6(src6.Addr(), dst6.Addr(), first)
	u := packettest.UDPLayer(src6.Port(), dst6.Port())
	u.SetNetworkLayerForChecksum(ip)
	ls := append(packettest.Link(layers.EthernetTypeIPv6), ip)
	ls = append(ls, exts...)
	ls = append(ls, u, gopacket.Payload("hello, v6"))
	return packettest.Serialize(ls...)
}

// offsetIn is the offset of sub inside frame; sub must alias frame.
func offsetIn(frame, sub []byte) int { return cap(frame) - cap(sub) }

// crossCheck decodes frame with gopacket and compares what it finds with
// the tuple Parse returned OK for. It returns an error rather than failing
// so that the fuzz target can use it too. Layers gopacket cannot decode are
// skipped: gopacket is stricter than Parse in places (IPv4 and TCP options,
// hop-by-hop options) and knows no 0x9100 tag.
func crossCheck(frame []byte, tu *Tuple) error {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true, Lazy: false})
	var ipEnd int
	switch tu.Flow.Family {
	case pcb.IPv4:
		l, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			return nil
		}
		if got := offsetIn(frame, l.Contents); got != int(tu.L3Off) {
			return fmt.Errorf("L3Off = %d, gopacket %d", tu.L3Off, got)
		}
		s, d := netip.AddrFrom4([4]byte(l.SrcIP)), netip.AddrFrom4([4]byte(l.DstIP))
		if got := tu.Flow.Src.Netip(pcb.IPv4); got != s {
			return fmt.Errorf("src = %v, gopacket %v", got, s)
		}
		if got := tu.Flow.Dst.Netip(pcb.IPv4); got != d {
			return fmt.Errorf("dst = %v, gopacket %v", got, d)
		}
		if uint8(l.Protocol) != tu.IPProto {
			return fmt.Errorf("IPProto = %d, gopacket %d", tu.IPProto, l.Protocol)
		}
		if frag := l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0; frag != tu.Fragment {
			return fmt.Errorf("Fragment = %v, gopacket %v", tu.Fragment, frag)
		}
		ipEnd = int(tu.L3Off) + int(l.Length)
	case pcb.IPv6:
		l, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if !ok {
			return nil
		}
		if got := offsetIn(frame, l.Contents); got != int(tu.L3Off) {
			return fmt.Errorf("L3Off = %d, gopacket %d", tu.L3Off, got)
		}
		s, d := netip.AddrFrom16([16]byte(l.SrcIP)), netip.AddrFrom16([16]byte(l.DstIP))
		if got := tu.Flow.Src.Netip(pcb.IPv6); got != s {
			return fmt.Errorf("src = %v, gopacket %v", got, s)
		}
		if got := tu.Flow.Dst.Netip(pcb.IPv6); got != d {
			return fmt.Errorf("dst = %v, gopacket %v", got, d)
		}
		if frag := outerIPv6Fragment(p); frag != tu.Fragment && !tu.Fragment {
			return fmt.Errorf("Fragment = %v, gopacket %v", tu.Fragment, frag)
		}
		ipEnd = int(tu.L3Off) + 40 + int(l.Length)
	default:
		return fmt.Errorf("family %d on OK", tu.Flow.Family)
	}
	if !tu.HasPorts {
		return nil
	}
	switch l := p.TransportLayer().(type) {
	case *layers.UDP:
		if tu.IPProto != 17 {
			return fmt.Errorf("gopacket UDP, Parse proto %d", tu.IPProto)
		}
		if got := offsetIn(frame, l.Contents); got != int(tu.L4Off) {
			return fmt.Errorf("L4Off = %d, gopacket %d", tu.L4Off, got)
		}
		if uint16(l.SrcPort) != tu.Flow.SrcPort || uint16(l.DstPort) != tu.Flow.DstPort {
			return fmt.Errorf("ports %d>%d, gopacket %d>%d", tu.Flow.SrcPort, tu.Flow.DstPort, l.SrcPort, l.DstPort)
		}
		if int(tu.PayloadOff) != int(tu.L4Off)+8 || int(tu.PayloadLen) != int(l.Length)-8 {
			return fmt.Errorf("payload %d+%d, gopacket UDP length %d", tu.PayloadOff, tu.PayloadLen, l.Length)
		}
	case *layers.TCP:
		if tu.IPProto != 6 {
			return fmt.Errorf("gopacket TCP, Parse proto %d", tu.IPProto)
		}
		if got := offsetIn(frame, l.Contents); got != int(tu.L4Off) {
			return fmt.Errorf("L4Off = %d, gopacket %d", tu.L4Off, got)
		}
		if uint16(l.SrcPort) != tu.Flow.SrcPort || uint16(l.DstPort) != tu.Flow.DstPort {
			return fmt.Errorf("ports %d>%d, gopacket %d>%d", tu.Flow.SrcPort, tu.Flow.DstPort, l.SrcPort, l.DstPort)
		}
		if want := int(tu.L4Off) + int(l.DataOffset)*4; int(tu.PayloadOff) != want {
			return fmt.Errorf("PayloadOff = %d, gopacket %d", tu.PayloadOff, want)
		}
		if want := ipEnd - int(tu.PayloadOff); int(tu.PayloadLen) != want {
			return fmt.Errorf("PayloadLen = %d, gopacket %d", tu.PayloadLen, want)
		}
	}
	return nil
}

// outerIPv6Fragment reports whether gopacket found a fragment header in
// the extension chain of the first IPv6 header (not in a tunnelled one).
func outerIPv6Fragment(p gopacket.Packet) bool {
	inChain := false
	for _, l := range p.Layers() {
		switch l.LayerType() {
		case layers.LayerTypeIPv6:
			if inChain {
				return false
			}
			inChain = true
		case layers.LayerTypeIPv6Fragment:
			if inChain {
				return true
			}
		case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing,
			layers.LayerTypeIPv6Destination, layers.LayerTypeIPSecAH:
		default:
			if inChain {
				return false
			}
		}
	}
	return false
}

// checkInvariants checks what every OK tuple promises about its offsets.
func checkInvariants(frame []byte, tu *Tuple) error {
	if !(tu.L3Off < tu.L4Off && tu.L4Off <= tu.PayloadOff && int(tu.PayloadOff)+int(tu.PayloadLen) <= len(frame)) {
		return fmt.Errorf("offsets out of order: L3 %d L4 %d payload %d+%d frame %d",
			tu.L3Off, tu.L4Off, tu.PayloadOff, tu.PayloadLen, len(frame))
	}
	if tu.Flow.Proto != pcb.Proto(tu.IPProto) {
		return fmt.Errorf("Flow.Proto %d != IPProto %d", tu.Flow.Proto, tu.IPProto)
	}
	switch tu.Flow.Family {
	case pcb.IPv4:
		if int(tu.L3Off)+20 > len(frame) || [4]byte(frame[tu.L3Off+12:]) != [4]byte(tu.Flow.Src[12:]) ||
			[4]byte(frame[tu.L3Off+16:]) != [4]byte(tu.Flow.Dst[12:]) || tu.Flow.Src[10] != 0xff || tu.Flow.Dst[11] != 0xff {
			return fmt.Errorf("IPv4 addresses not at L3Off+12")
		}
	case pcb.IPv6:
		if int(tu.L3Off)+40 > len(frame) || [16]byte(frame[tu.L3Off+8:]) != tu.Flow.Src ||
			[16]byte(frame[tu.L3Off+24:]) != tu.Flow.Dst {
			return fmt.Errorf("IPv6 addresses not at L3Off+8")
		}
	default:
		return fmt.Errorf("family %d", tu.Flow.Family)
	}
	if tu.HasPorts {
		if tu.Fragment || (tu.IPProto != 6 && tu.IPProto != 17) {
			return fmt.Errorf("HasPorts with Fragment %v proto %d", tu.Fragment, tu.IPProto)
		}
		if int(tu.L4Off)+4 > len(frame) || binary.BigEndian.Uint16(frame[tu.L4Off:]) != tu.Flow.SrcPort ||
			binary.BigEndian.Uint16(frame[tu.L4Off+2:]) != tu.Flow.DstPort {
			return fmt.Errorf("ports not at L4Off")
		}
	} else if tu.Flow.SrcPort != 0 || tu.Flow.DstPort != 0 {
		return fmt.Errorf("ports set without HasPorts")
	}
	return nil
}

// seedFrames are real frames for the fuzz corpus and benchmarks.
func seedFrames(tb testing.TB) [][]byte {
	tb.Helper()
	return [][]byte{
		packettest.UDP4(src4, dst4, []byte("query")),
		packettest.UDP6(src6, dst6, []byte("query")),
		packettest.TCP4(src4, dst4, nil, packettest.VLAN(100)),
		packettest.TCP6(src6, dst6, []byte("GET /"), packettest.QinQ(10, 20)),
		packettest.UDP4(src4, dst4, nil, packettest.Tag(packettest.TPID9100, 7), packettest.VLAN(8)),
		udp6Ext(layers.IPProtocolIPv6HopByHop, extHdr(layers.IPProtocolIPv6Routing, 1),
			routingHdr(layers.IPProtocolAH), ahHdr(layers.IPProtocolIPv6Destination),
			extHdr(layers.IPProtocolIPv6Fragment, 2), fragHdr(layers.IPProtocolUDP, 0, true)),
		udp6Ext(layers.IPProtocolIPv6Destination, extHdr(layers.IPProtocolUDP, 1)),
	}
}
