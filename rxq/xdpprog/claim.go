package xdpprog

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrInvalidClaim: a claim's address is not one specific IPv4 or IPv6
// address (unspecified, invalid or zoned).
var ErrInvalidClaim = errors.New("xdp: claim address must be one specific ipv4 or ipv6 address")

// Address families of a claim, as the program stores them.
const (
	familyIPv4 uint8 = 4
	familyIPv6 uint8 = 6
)

// claim is a validated claim: protocol, family, destination address in
// network order (IPv4 in the first 4 bytes, the rest zero) and port.
type claim struct {
	proto  uint8
	family uint8
	addr   [16]byte
	port   uint16
}

// newClaim checks proto and addr. A 4in6 address is unmapped to IPv4, so
// it matches IPv4 frames.
func newClaim(proto uint8, addr netip.Addr, port uint16) (claim, error) {
	if proto != ProtoTCP && proto != ProtoUDP {
		return claim{}, fmt.Errorf("%w: %d", ErrProto, proto)
	}
	if !addr.IsValid() || addr.Zone() != "" || addr.Unmap().IsUnspecified() {
		return claim{}, fmt.Errorf("%w: %q", ErrInvalidClaim, addr)
	}
	c := claim{proto: proto, port: port}
	if addr = addr.Unmap(); addr.Is4() {
		a := addr.As4()
		c.family = familyIPv4
		copy(c.addr[:], a[:])
	} else {
		c.family = familyIPv6
		c.addr = addr.As16()
	}
	return c, nil
}
