package pcb

import (
	"fmt"
	"net/netip"
)

// Proto is an IP protocol number that endpoints can bind.
type Proto uint8

const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Family is the IP version of an address, a flow or an endpoint.
type Family uint8

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// Addr is an IPv4 or IPv6 address in 16-byte form. IPv4 addresses are held
// v4-mapped (::ffff:a.b.c.d) so that a dual-stack IPv6 endpoint bound to a
// v4-mapped address compares equal to the IPv4 packet's address. The family
// is carried next to it (Flow.Family, Spec's address), never guessed from
// the bytes.
type Addr [16]byte

// AddrFrom converts a netip.Addr; IPv4 (and IPv4-mapped IPv6) come out
// v4-mapped.
func AddrFrom(a netip.Addr) Addr { return Addr(a.As16()) }

// AddrFrom4 converts 4 IPv4 address bytes in network order.
func AddrFrom4(b [4]byte) Addr {
	return Addr{10: 0xff, 11: 0xff, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}
}

// Netip returns the address as a netip.Addr of the given family.
func (a Addr) Netip(f Family) netip.Addr {
	n := netip.AddrFrom16(a)
	if f == IPv4 {
		return n.Unmap()
	}
	return n
}

// Flow is the lookup key of one received packet: what the parser extracts
// and what Table.Lookup matches. Src is the remote (foreign) side, Dst the
// local side.
type Flow struct {
	Proto   Proto
	Family  Family
	SrcPort uint16 // host byte order
	DstPort uint16 // host byte order
	Src     Addr
	Dst     Addr
}
