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

// Layout of a generated IPv6 frame (no VLAN tag, no extension header).
const (
	ip6Len      = 40
	off6SrcIP   = ethLen + 8
	off6DstIP   = ethLen + 24
	off6SrcPort = ethLen + ip6Len
	off6UDPCsum = off6SrcPort + 6
	off6Payload = ethLen + ip6Len + udpLen
	off6Flow    = off6Payload + 4
	off6Seq     = off6Payload + 8
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
	src   [16]byte // IPv4: the first 4 bytes
	sport uint16
	csum  uint16 // IPv4 header checksum with src
	id    uint32
	// sum is, for IPv6, the UDP checksum's one's complement sum (folded
	// to 16 bits) of the flow's frame with sequence number 0: stamping
	// adds the sequence number's four words to it.
	sum uint32
}

// frames holds the common frame and the flows' stamps: together, one
// template per flow.
type frames struct {
	base  []byte
	flows []flowStamp
	v6    bool
}

// FlowSource returns the source address and port of flow f under cfg's
// rule (see Config.Flows). cfg.Src must be valid.
func flowSource(src netip.Prefix, flows, f int) (netip.Addr, uint16) {
	a := srcAddrs(src)
	if uint64(flows) < a {
		a = uint64(flows)
	}
	port := uint16(FirstSrcPort + uint64(f)/a)
	if src.Addr().Is6() {
		return netip.AddrFrom16(srcAddr6(src, uint64(f)%a)), port
	}
	return netip.AddrFrom4(srcAddr(src, uint64(f)%a)), port
}

// buildFrames builds the common frame of size bytes and the stamps of
// flows flows. The common frame carries flow 0's stamp and sequence 0.
// src and dst are of one family.
func buildFrames(size, flows int, src netip.Prefix, dst netip.AddrPort, srcMAC, dstMAC net.HardwareAddr) *frames {
	if dst.Addr().Is6() {
		return buildFrames6(size, flows, src, dst, srcMAC, dstMAC)
	}
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
		s := flowStamp{sport: port, id: uint32(f)}
		a4 := a.As4()
		copy(s.src[:], a4[:])
		copy(hdr, ip)
		copy(hdr[12:16], a4[:])
		hdr[10], hdr[11] = 0, 0
		s.csum = ipChecksum(hdr)
		fr.flows[f] = s
	}
	stamp(b, &fr.flows[0], 0)
	return fr
}

// buildFrames6 is buildFrames for IPv6: hop limit 64, no flow label, and
// a UDP checksum per frame.
func buildFrames6(size, flows int, src netip.Prefix, dst netip.AddrPort, srcMAC, dstMAC net.HardwareAddr) *frames {
	b := make([]byte, size)
	copy(b[0:6], dstMAC)
	copy(b[6:12], srcMAC)
	binary.BigEndian.PutUint16(b[12:], 0x86dd)
	ip := b[ethLen : ethLen+ip6Len]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(size-ethLen-ip6Len))
	ip[6], ip[7] = 17, 64
	d16 := dst.Addr().As16()
	copy(b[off6DstIP:off6DstIP+16], d16[:])
	udp := b[off6SrcPort : off6SrcPort+udpLen]
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(size-ethLen-ip6Len))
	binary.BigEndian.PutUint32(b[off6Payload:], PayloadMagic)

	fr := &frames{base: b, flows: make([]flowStamp, flows), v6: true}
	for f := range fr.flows {
		a, port := flowSource(src, flows, f)
		s := flowStamp{src: a.As16(), sport: port, id: uint32(f)}
		// The frame with this stamp, sequence 0 and checksum 0: the sum
		// of its pseudo-header and UDP datagram.
		copy(b[off6SrcIP:off6SrcIP+16], s.src[:])
		binary.BigEndian.PutUint16(b[off6SrcPort:], s.sport)
		binary.BigEndian.PutUint32(b[off6Flow:], s.id)
		binary.BigEndian.PutUint64(b[off6Seq:], 0)
		binary.BigEndian.PutUint16(b[off6UDPCsum:], 0)
		sum := onesSum(b[off6SrcIP:off6SrcPort]) // both addresses
		sum += uint32(size-ethLen-ip6Len) + 17   // upper-layer length, next header
		sum += onesSum(b[off6SrcPort:])
		s.sum = fold(sum)
		fr.flows[f] = s
	}
	stamp6(b, &fr.flows[0], 0)
	return fr
}

// onesSum adds b's big-endian 16-bit words (an odd last byte padded with
// zero), not folded; b is at most 64 KiB.
func onesSum(b []byte) uint32 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

// fold folds a one's complement sum to 16 bits.
func fold(sum uint32) uint32 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum
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
	copy(b[offSrcIP:offSrcIP+4], s.src[:4])
	binary.BigEndian.PutUint16(b[offIPCsum:], s.csum)
	binary.BigEndian.PutUint16(b[offSrcPort:], s.sport)
	binary.BigEndian.PutUint32(b[offFlow:], s.id)
	binary.BigEndian.PutUint64(b[offSeq:], seq)
}

// stamp6 is stamp for IPv6 frames: 32 bytes and the UDP checksum, from
// the flow's sum and seq's four words.
func stamp6(b []byte, s *flowStamp, seq uint64) {
	_ = b[off6Seq+7] // one bounds check
	copy(b[off6SrcIP:off6SrcIP+16], s.src[:])
	binary.BigEndian.PutUint16(b[off6SrcPort:], s.sport)
	binary.BigEndian.PutUint32(b[off6Flow:], s.id)
	binary.BigEndian.PutUint64(b[off6Seq:], seq)
	sum := s.sum + uint32(seq>>48) + uint32(seq>>32)&0xffff + uint32(seq>>16)&0xffff + uint32(seq)&0xffff
	c := ^uint16(fold(sum))
	if c == 0 {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	binary.BigEndian.PutUint16(b[off6UDPCsum:], c)
}

// stampAny stamps an IPv4 or IPv6 frame.
func stampAny(b []byte, s *flowStamp, seq uint64, v6 bool) {
	if v6 {
		stamp6(b, s, seq)
		return
	}
	stamp(b, s, seq)
}

// template returns a new copy of flow f's frame with sequence number seq.
func (fr *frames) template(f int, seq uint64) []byte {
	b := append([]byte(nil), fr.base...)
	stampAny(b, &fr.flows[f], seq, fr.v6)
	return b
}

// payloadOffset is where the UDP payload starts in fr's frames.
func (fr *frames) payloadOffset() int {
	if fr.v6 {
		return off6Payload
	}
	return offPayload
}

// cursor walks one sender's share of the flows round-robin and numbers
// each flow's frames. One goroutine; not safe for concurrent use.
type cursor struct {
	flows []flowStamp // this sender's flows
	seq   []uint64    // next sequence number of each
	next  int
	v6    bool
}

func newCursor(fr *frames, first, step int) *cursor {
	c := &cursor{v6: fr.v6}
	for f := first; f < len(fr.flows); f += step {
		c.flows = append(c.flows, fr.flows[f])
	}
	c.seq = make([]uint64, len(c.flows))
	return c
}

// stampNext stamps b as the next frame of the next flow.
func (c *cursor) stampNext(b []byte) {
	i := c.next
	stampAny(b, &c.flows[i], c.seq[i], c.v6)
	c.seq[i]++
	i++
	if i == len(c.flows) {
		i = 0
	}
	c.next = i
}
