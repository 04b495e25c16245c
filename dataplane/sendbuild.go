package dataplane

import (
	"encoding/binary"
	"net/netip"
)

// Building the IP and UDP headers of a datagram to send.

// writeIPUDP writes an IPv4 (ipLen 20) or IPv6 (40) header and a UDP header
// at the start of b, whose tail after them is the payload, with both
// checksums.
func writeIPUDP(b []byte, src, dst netip.AddrPort, ipLen int) {
	udpLen := len(b) - ipLen
	u := b[ipLen : ipLen+8]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(udpLen))
	u[6], u[7] = 0, 0
	var sum uint64
	if ipLen == 20 {
		ip := b[:20]
		ip[0], ip[1] = 0x45, 0
		binary.BigEndian.PutUint16(ip[2:], uint16(len(b)))
		binary.BigEndian.PutUint32(ip[4:], 0x4000) // id 0, DF (RFC 6864)
		ip[8], ip[9] = replyTTL, 17
		ip[10], ip[11] = 0, 0
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(0, ip)))
		sum = sum16(0, ip[12:20])
	} else {
		ip := b[:40]
		binary.BigEndian.PutUint32(ip[0:], 6<<28)
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[6], ip[7] = 17, replyTTL
		s16, d16 := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
		sum = sum16(0, ip[8:40])
	}
	sum += 17 + uint64(udpLen)
	sum = sum16(sum, b[ipLen:])
	c := ^fold(sum)
	if c == 0 {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	binary.BigEndian.PutUint16(u[6:], c)
}

// sum16 adds b to the one's-complement sum s (RFC 1071), unfolded.
func sum16(s uint64, b []byte) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v >> 32
		s += v & 0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// fold folds a 64-bit sum to 16 bits.
func fold(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
