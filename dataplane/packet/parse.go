package packet

import (
	"encoding/binary"

	"github.com/xdpmux/xdpmux/pcb"
)

const (
	// MaxVLANTags is the number of VLAN tags Parse skips; one more is
	// TooManyVLANTags.
	MaxVLANTags = 2
	// MaxExtHeaders is the number of IPv6 extension headers Parse walks
	// (the fragment header counts); one more is ExtChainTooLong.
	MaxExtHeaders = 8
)

// Ethertypes.
const (
	etherTypeIPv4     = 0x0800
	etherTypeIPv6     = 0x86dd
	etherTypeDot1Q    = 0x8100 // 802.1Q customer tag
	etherTypeDot1AD   = 0x88a8 // 802.1ad service tag
	etherTypeQinQ9100 = 0x9100 // pre-standard QinQ service tag
)

// IP protocol numbers and IPv6 extension headers.
const (
	protoHopByHop = 0
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoDestOpts = 60
)

const (
	ethHeaderLen  = 14
	vlanTagLen    = 4
	ipv4MinHeader = 20
	ipv6HeaderLen = 40
	udpHeaderLen  = 8
	tcpMinHeader  = 20
	ipv6FragLen   = 8
)

// Parse parses one Ethernet frame into t, which it resets first, and
// returns OK or why the frame is malformed; on a malformed frame t is left
// zero. See the package documentation for what is accepted and what the
// offsets mean. Parse allocates nothing and never panics.
func Parse(frame []byte, t *Tuple) Reason {
	*t = Tuple{}
	off, r := LinkHeaderLen(frame)
	if r != OK {
		return r
	}
	switch binary.BigEndian.Uint16(frame[off-2:]) {
	case etherTypeIPv4:
		return parseIPv4(frame, off, t)
	case etherTypeIPv6:
		return parseIPv6(frame, off, t)
	}
	return UnknownEtherType
}

func parseIPv4(f []byte, l3 int, t *Tuple) Reason {
	h := f[l3:]
	if len(h) < ipv4MinHeader {
		return Truncated
	}
	if h[0]>>4 != 4 {
		return BadVersion
	}
	hl := int(h[0]&0x0f) * 4
	if hl < ipv4MinHeader || hl > len(h) {
		return BadIHL
	}
	tot := int(binary.BigEndian.Uint16(h[2:]))
	if tot < hl || tot > len(h) {
		return BadLength
	}
	frag := binary.BigEndian.Uint16(h[6:])&0x3fff != 0 // MF flag or offset
	if r := parseL4(f, l3+hl, l3+tot, h[9], frag, t); r != OK {
		return r
	}
	t.Flow.Family = pcb.IPv4
	t.Flow.Src[10], t.Flow.Src[11] = 0xff, 0xff
	t.Flow.Dst[10], t.Flow.Dst[11] = 0xff, 0xff
	copy(t.Flow.Src[12:], h[12:16])
	copy(t.Flow.Dst[12:], h[16:20])
	t.L3Off = uint16(l3)
	return OK
}

func parseIPv6(f []byte, l3 int, t *Tuple) Reason {
	h := f[l3:]
	if len(h) < ipv6HeaderLen {
		return Truncated
	}
	if h[0]>>4 != 6 {
		return BadVersion
	}
	pl := int(binary.BigEndian.Uint16(h[4:]))
	if pl == 0 || ipv6HeaderLen+pl > len(h) {
		return BadLength // zero: jumbogram
	}
	end := l3 + ipv6HeaderLen + pl
	off := l3 + ipv6HeaderLen
	next := h[6]
	frag := false
	for n := 0; ; n++ {
		var hl int
		switch next {
		case protoHopByHop, protoRouting, protoDestOpts, protoAH, protoFragment:
		default:
			goto done
		}
		if n == MaxExtHeaders {
			return ExtChainTooLong
		}
		if end-off < 8 { // every extension header is at least 8 bytes
			return Truncated
		}
		switch next {
		case protoFragment:
			next = f[off]
			off += ipv6FragLen
			frag = true
			goto done
		case protoAH:
			hl = (int(f[off+1]) + 2) * 4
		default:
			hl = (int(f[off+1]) + 1) * 8
		}
		if hl > end-off {
			return Truncated
		}
		next = f[off]
		off += hl
	}
done:
	if r := parseL4(f, off, end, next, frag, t); r != OK {
		return r
	}
	t.Flow.Family = pcb.IPv6
	copy(t.Flow.Src[:], h[8:24])
	copy(t.Flow.Dst[:], h[24:40])
	t.L3Off = uint16(l3)
	return OK
}

// parseL4 checks the transport header at f[l4:end], end being the end of
// the IP packet, and sets the protocol, ports and offsets. It writes t only
// when it returns OK.
func parseL4(f []byte, l4, end int, proto uint8, frag bool, t *Tuple) Reason {
	n := end - l4
	var hl, plen int
	switch {
	case frag || (proto != protoUDP && proto != protoTCP):
		plen = n
	case proto == protoUDP:
		if n < udpHeaderLen {
			return Truncated
		}
		h := f[l4 : l4+udpHeaderLen]
		ul := int(binary.BigEndian.Uint16(h[4:]))
		if ul < udpHeaderLen || ul > n {
			return BadLength
		}
		hl, plen = udpHeaderLen, ul-udpHeaderLen
		t.Flow.SrcPort = binary.BigEndian.Uint16(h[0:])
		t.Flow.DstPort = binary.BigEndian.Uint16(h[2:])
		t.HasPorts = true
	default: // TCP
		if n < tcpMinHeader {
			return Truncated
		}
		h := f[l4 : l4+tcpMinHeader]
		hl = int(h[12]>>4) * 4
		if hl < tcpMinHeader || hl > n {
			return BadTCPOffset
		}
		plen = n - hl
		t.Flow.SrcPort = binary.BigEndian.Uint16(h[0:])
		t.Flow.DstPort = binary.BigEndian.Uint16(h[2:])
		t.HasPorts = true
	}
	t.Flow.Proto = pcb.Proto(proto)
	t.IPProto = proto
	t.Fragment = frag
	t.L4Off = uint16(l4)
	t.PayloadOff = uint16(l4 + hl)
	t.PayloadLen = uint16(plen)
	return OK
}
