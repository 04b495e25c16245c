package packet

import (
	"encoding/binary"
	"net/netip"
)

// Building the headers of frames the dataplane sends: the inverse of
// Parse for a UDP datagram. Like Parse, nothing here allocates.

// LinkHeaderLen returns the length of frame's link header, the offset of
// the network header: 14 bytes of Ethernet plus 4 per VLAN tag (the TPIDs
// and the limit Parse accepts: 0x8100, 0x88a8 and 0x9100, at most
// MaxVLANTags), and Truncated or TooManyVLANTags when there is none to
// find. It does not look at the ethertype after the tags.
func LinkHeaderLen(frame []byte) (int, Reason) {
	if len(frame) < ethHeaderLen {
		return 0, Truncated
	}
	off := 12
	et := binary.BigEndian.Uint16(frame[off:])
	for tags := 0; et == etherTypeDot1Q || et == etherTypeDot1AD || et == etherTypeQinQ9100; tags++ {
		if tags == MaxVLANTags {
			return 0, TooManyVLANTags
		}
		off += vlanTagLen
		if len(frame) < off+2 {
			return 0, Truncated
		}
		et = binary.BigEndian.Uint16(frame[off:])
	}
	return off + 2, OK
}

// IPUDPHeaderLen returns the length of the IP and UDP headers PutIPUDP
// writes: 28 for IPv4, 48 for IPv6.
func IPUDPHeaderLen(v4 bool) int {
	if v4 {
		return ipv4MinHeader + udpHeaderLen
	}
	return ipv6HeaderLen + udpHeaderLen
}

// PutIPUDP writes at the start of b an IPv4 (ipLen 20) or IPv6 (ipLen 40)
// header and a UDP header from src to dst, for the payload that fills the
// rest of b, with both checksums (the IPv4 header's, and UDP's over the
// pseudo-header; a computed UDP checksum of 0 is sent as 0xffff, RFC 768).
// The IPv4 header has no options, identification 0 and DF set (RFC 6864);
// ttl is the IPv4 TTL or IPv6 hop limit. For ipLen 20, src and dst must be
// IPv4 addresses (Is4). b must hold at least ipLen+8 bytes and at most
// 65535.
func PutIPUDP(b []byte, src, dst netip.AddrPort, ipLen int, ttl uint8) {
	udpLen := len(b) - ipLen
	u := b[ipLen : ipLen+udpHeaderLen]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(udpLen))
	u[6], u[7] = 0, 0
	var sum uint64
	if ipLen == ipv4MinHeader {
		ip := b[:ipv4MinHeader]
		ip[0], ip[1] = 0x45, 0
		binary.BigEndian.PutUint16(ip[2:], uint16(len(b)))
		binary.BigEndian.PutUint32(ip[4:], 0x4000) // id 0, DF
		ip[8], ip[9] = ttl, protoUDP
		ip[10], ip[11] = 0, 0
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
		binary.BigEndian.PutUint16(ip[10:], ^Fold(Sum16(0, ip)))
		sum = Sum16(0, ip[12:20])
	} else {
		ip := b[:ipv6HeaderLen]
		binary.BigEndian.PutUint32(ip[0:], 6<<28)
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[6], ip[7] = protoUDP, ttl
		s16, d16 := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
		sum = Sum16(0, ip[8:40])
	}
	sum += protoUDP + uint64(udpLen)
	sum = Sum16(sum, b[ipLen:])
	c := ^Fold(sum)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
}

// Sum16 adds b, as big-endian 16-bit words (an odd last byte padded with
// zero), to the one's-complement sum s (RFC 1071) and returns it unfolded:
// Fold it to 16 bits, and complement that for a checksum field. Sums of
// pieces of even length add up.
func Sum16(s uint64, b []byte) uint64 {
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

// Fold folds a one's-complement sum to 16 bits.
func Fold(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
