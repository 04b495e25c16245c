package netstackep

import (
	"fmt"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// NICID is the ID of the one NIC of a stack built by NewStack.
const NICID tcpip.NICID = 1

// NewStack returns a gVisor stack with IPv4, IPv6 and TCP whose one NIC
// (NICID) is link, owning addrs, and with a default route per address
// family through it (no gateway: the dataplane sends to the link header it
// learned for the destination). SACK is on. To tear down, stop the Link (Link.Stop),
// then destroy the stack (stack.Destroy); see Link.Wait for why in that
// order. On error the stack is gone and the Link stopped.
func NewStack(link *Link, addrs ...netip.Prefix) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	fail := func(err error) (*stack.Stack, error) {
		link.Stop()
		s.Destroy()
		return nil, err
	}
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fail(fmt.Errorf("netstackep: enable SACK: %s", err))
	}
	if err := s.CreateNIC(NICID, link); err != nil {
		return fail(fmt.Errorf("netstackep: create NIC: %s", err))
	}
	var v4, v6 bool
	for _, p := range addrs {
		if !p.IsValid() {
			return fail(fmt.Errorf("%w: address %v", ErrBadOptions, p))
		}
		addr, bits := p.Addr(), p.Bits()
		if addr.Is4In6() {
			addr, bits = addr.Unmap(), max(bits-96, 0)
		}
		a := tcpip.AddrFromSlice(addr.AsSlice())
		proto := header.IPv4ProtocolNumber
		if addr.Is6() {
			proto = header.IPv6ProtocolNumber
			v6 = true
		} else {
			v4 = true
		}
		pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: a.WithPrefix()}
		pa.AddressWithPrefix.PrefixLen = bits
		if err := s.AddProtocolAddress(NICID, pa, stack.AddressProperties{}); err != nil {
			return fail(fmt.Errorf("netstackep: add address %v: %s", p, err))
		}
	}
	var routes []tcpip.Route
	if v4 {
		routes = append(routes, tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: NICID})
	}
	if v6 {
		routes = append(routes, tcpip.Route{Destination: header.IPv6EmptySubnet, NIC: NICID})
	}
	s.SetRouteTable(routes)
	return s, nil
}
