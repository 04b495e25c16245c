package dataplane

import (
	"fmt"
	"net/netip"

	"github.com/xdpmux/xdpmux/pcb"
)

// KernelSockets tells which kernel sockets use a local port in the
// dataplane's network namespace. OpenInterface fills Config.KernelSockets
// with a sock_diag client opened in the interface's namespace; tests fake it.
type KernelSockets interface {
	// Sockets returns the kernel sockets of proto (udp or tcp, IPv4 and
	// IPv6) whose local port is port, in any state.
	Sockets(proto pcb.Proto, port uint16) ([]KernelSocket, error)
}

// KernelSocket is a kernel socket as sock_diag reports it.
type KernelSocket struct {
	Proto pcb.Proto
	// Local is the bound address and port: 0.0.0.0 or :: for a wildcard;
	// an IPv4 address for an IPv4 connection of a dual-stack IPv6 socket
	// (v4-mapped in sock_diag).
	Local netip.AddrPort
	// Remote is the peer of a connected socket; the zero value or an
	// unspecified address otherwise.
	Remote netip.AddrPort
	// IPv6 is set for an AF_INET6 socket; V6Only when it is known to be
	// IPV6_V6ONLY. An IPv6 wildcard socket not known to be v6-only covers
	// IPv4 as well.
	IPv6, V6Only bool
	// State is the TCP state name ("LISTEN", "ESTABLISHED", ...), or for
	// UDP "UNCONN" (bound) or "ESTAB" (connected).
	State string
	UID   uint32
	Inode uint32
}

// String names the socket, e.g. "udp UNCONN 0.0.0.0:53 uid 0 inode 1234".
func (s KernelSocket) String() string {
	str := fmt.Sprintf("%v %s %s", s.Proto, s.State, s.Local)
	if s.Remote.Addr().IsValid() && !s.Remote.Addr().IsUnspecified() {
		str += "->" + s.Remote.String()
	}
	return str + fmt.Sprintf(" uid %d inode %d", s.UID, s.Inode)
}

// receives reports which families s's local address takes and the address:
// invalid for a wildcard.
func (s KernelSocket) receives() (v4, v6 bool, addr netip.Addr) {
	a := s.Local.Addr()
	switch {
	case a.Is4In6():
		return true, false, a.Unmap()
	case a.Is4() && a.IsUnspecified():
		return true, false, netip.Addr{}
	case a.Is4():
		return true, false, a
	case a.IsUnspecified(): // [::]
		return !s.V6Only, true, netip.Addr{}
	default:
		return false, true, a
	}
}

// specReceives is receives for a spec.
func specReceives(spec pcb.Spec) (v4, v6 bool, addr netip.Addr) {
	a := spec.Local.Addr()
	switch {
	case a.Is4In6():
		return true, false, a.Unmap()
	case a.Is4():
		if a.IsUnspecified() {
			return true, false, netip.Addr{}
		}
		return true, false, a
	case a.IsUnspecified():
		return spec.DualStack, true, netip.Addr{}
	default:
		return false, true, a
	}
}

// overlaps reports whether a kernel socket k and a bind of spec (same
// protocol and port) would take the same packets: a common family, and the
// same address or a wildcard on either side.
func overlaps(spec pcb.Spec, k KernelSocket) bool {
	if k.Proto != spec.Proto || k.Local.Port() != spec.Local.Port() {
		return false
	}
	s4, s6, sa := specReceives(spec)
	k4, k6, ka := k.receives()
	if !(s4 && k4) && !(s6 && k6) {
		return false
	}
	return !sa.IsValid() || !ka.IsValid() || sa == ka
}

// checkKernel fails with pcb.ErrAddrInUse when a kernel socket holds what
// spec would bind, naming the first such socket. ctlMu held.
func (d *Dataplane) checkKernel(spec pcb.Spec) error {
	if d.cfg.KernelSockets == nil {
		return nil
	}
	socks, err := d.cfg.KernelSockets.Sockets(spec.Proto, spec.Local.Port())
	if err != nil {
		return fmt.Errorf("bind %s: list kernel sockets: %w", spec, err)
	}
	for _, k := range socks {
		if overlaps(spec, k) {
			return fmt.Errorf("bind %s: %w by kernel socket %s", spec, pcb.ErrAddrInUse, k)
		}
	}
	return nil
}
