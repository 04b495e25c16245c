package txgen

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Layout of a generated frame (no VLAN tag, IPv4 header without options).
const (
	ethLen     = 14
	ipLen      = 20
	udpLen     = 8
	offIPCsum  = ethLen + 10
	offSrcIP   = ethLen + 12
	offSrcPort = ethLen + ipLen
	offPayload = ethLen + ipLen + udpLen
	offFlow    = offPayload + 4
	offSeq     = offPayload + 8
)

// PayloadHeaderLen is the length of the header every generated datagram's
// payload starts with: PayloadMagic (4 bytes), the flow id (4), the flow's
// sequence number (8), all big-endian. The rest of the payload is zero.
const PayloadHeaderLen = 16

// PayloadMagic starts every generated payload ("xmgn").
const PayloadMagic uint32 = 0x786d676e

// ParsePayload reads the header of a generated datagram's UDP payload.
func ParsePayload(p []byte) (flow uint32, seq uint64, ok bool) {
	if len(p) < PayloadHeaderLen || binary.BigEndian.Uint32(p) != PayloadMagic {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(p[4:]), binary.BigEndian.Uint64(p[8:]), true
}

// flowStamp is what differs between two flows' frames.
type flowStamp struct {
	src   [4]byte
	sport uint16
	csum  uint16 // IPv4 header checksum with src
	id    uint32
}

// frames holds the common frame and the flows' stamps: together, one
// template per flow.
type frames struct {
	base  []byte
	flows []flowStamp
}

// FlowSource returns the source address and port of flow f under cfg's
// rule (see Config.Flows). cfg.Src must be valid.
func flowSource(src netip.Prefix, flows, f int) (netip.Addr, uint16) {
	a := srcAddrs(src)
	if uint64(flows) < a {
		a = uint64(flows)
	}
	ip := srcAddr(src, uint64(f)%a)
	return netip.AddrFrom4(ip), uint16(FirstSrcPort + uint64(f)/a)
}

// buildFrames builds the common frame of size bytes and the stamps of
// flows flows. The common frame carries flow 0's stamp and sequence 0.
func buildFrames(size, flows int, src netip.Prefix, dst netip.AddrPort, srcMAC, dstMAC net.HardwareAddr) *frames {
	b := make([]byte, size)
	copy(b[0:6], dstMAC)
	copy(b[6:12], srcMAC)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[ethLen : ethLen+ipLen]
	ip[0] = 0x45 // version 4, 5 words
	binary.BigEndian.PutUint16(ip[2:], uint16(size-ethLen))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF, id 0 (RFC 6864)
	ip[8], ip[9] = 64, 17
	d4 := dst.Addr().As4()
	copy(ip[16:20], d4[:])
	udp := b[offSrcPort : offSrcPort+udpLen]
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(size-ethLen-ipLen))
	// udp[6:8]: checksum 0, "no checksum" for UDP over IPv4 (RFC 768).
	binary.BigEndian.PutUint32(b[offPayload:], PayloadMagic)

	fr := &frames{base: b, flows: make([]flowStamp, flows)}
	hdr := make([]byte, ipLen)
	for f := range fr.flows {
		a, port := flowSource(src, flows, f)
		s := flowStamp{src: a.As4(), sport: port, id: uint32(f)}
		copy(hdr, ip)
		copy(hdr[12:16], s.src[:])
		hdr[10], hdr[11] = 0, 0
		s.csum = ipChecksum(hdr)
		fr.flows[f] = s
	}
	stamp(b, &fr.flows[0], 0)
	return fr
}

// ipChecksum is the Internet checksum (RFC 1071) of an IPv4 header whose
// checksum field is zero.
func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// stamp turns a copy of the common frame into flow s's frame with sequence
// number seq. It writes 20 bytes and allocates nothing.
func stamp(b []byte, s *flowStamp, seq uint64) {
	_ = b[offSeq+7] // one bounds check
	copy(b[offSrcIP:offSrcIP+4], s.src[:])
	binary.BigEndian.PutUint16(b[offIPCsum:], s.csum)
	binary.BigEndian.PutUint16(b[offSrcPort:], s.sport)
	binary.BigEndian.PutUint32(b[offFlow:], s.id)
	binary.BigEndian.PutUint64(b[offSeq:], seq)
}

// template returns a new copy of flow f's frame with sequence number seq.
func (fr *frames) template(f int, seq uint64) []byte {
	b := append([]byte(nil), fr.base...)
	stamp(b, &fr.flows[f], seq)
	return b
}

// cursor walks one sender's share of the flows round-robin and numbers
// each flow's frames. One goroutine; not safe for concurrent use.
type cursor struct {
	flows []flowStamp // this sender's flows
	seq   []uint64    // next sequence number of each
	next  int
}

func newCursor(fr *frames, first, step int) *cursor {
	c := &cursor{}
	for f := first; f < len(fr.flows); f += step {
		c.flows = append(c.flows, fr.flows[f])
	}
	c.seq = make([]uint64, len(c.flows))
	return c
}

// stampNext stamps b as the next frame of the next flow.
func (c *cursor) stampNext(b []byte) {
	i := c.next
	stamp(b, &c.flows[i], c.seq[i])
	c.seq[i]++
	i++
	if i == len(c.flows) {
		i = 0
	}
	c.next = i
}
