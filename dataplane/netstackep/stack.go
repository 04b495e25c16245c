package netstackep

import (
	"fmt"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/qdisc/fifo"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// NICID is the ID of the one NIC of a stack built by NewStack or
// NewStackFor.
const NICID tcpip.NICID = 1

// StackOptions configure NewStackFor.
type StackOptions struct {
	// FIFOQueues, if positive, puts gVisor's fifo queueing discipline
	// with that many queues (each 1000 packets) in front of the link
	// endpoint, as gVisor's runsc does for its own link endpoints (its xdp
	// endpoint expects to be written through it). 0: the stack writes to
	// the endpoint directly, as it does to a Link.
	FIFOQueues int
}

// NewStack returns a gVisor stack with IPv4, IPv6 and TCP whose one NIC
// (NICID) is link, owning addrs, and with a default route per address
// family through it (no gateway: the dataplane sends to the link header it
// learned for the destination). SACK is on. To tear down, stop the Link (Link.Stop),
// then destroy the stack (stack.Destroy); see Link.Wait for why in that
// order. On error the stack is gone and the Link stopped. It is
// NewStackFor(link, StackOptions{}, addrs...).
func NewStack(link *Link, addrs ...netip.Prefix) (*stack.Stack, error) {
	return NewStackFor(link, StackOptions{}, addrs...)
}

// stopper is a link endpoint to stop before its stack is destroyed: a
// *Link (see Link.Wait).
type stopper interface{ Stop() }

var _ stopper = (*Link)(nil)

// NewStackFor is NewStack for any link endpoint: an xdpmux Link or one of
// gVisor's own (fdbased, xdp), so that every stack compared is set up the
// same way. An endpoint that needs link resolution
// (stack.CapabilityResolutionRequired: it carries Ethernet frames) also
// gets ARP; its neighbours are resolved by the stack (or added with
// Stack.AddStaticNeighbor). On error the stack is destroyed, and ep
// closed by it (a Link is stopped first).
func NewStackFor(ep stack.LinkEndpoint, o StackOptions, addrs ...netip.Prefix) (*stack.Stack, error) {
	if o.FIFOQueues < 0 {
		return nil, fmt.Errorf("%w: %d fifo queues", ErrBadOptions, o.FIFOQueues)
	}
	netProtos := []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol}
	if ep.Capabilities()&stack.CapabilityResolutionRequired != 0 {
		netProtos = append(netProtos, arp.NewProtocol)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   netProtos,
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	fail := func(err error) (*stack.Stack, error) {
		if st, ok := ep.(stopper); ok {
			st.Stop()
		}
		s.Destroy()
		return nil, err
	}
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fail(fmt.Errorf("netstackep: enable SACK: %s", err))
	}
	var nicOpts stack.NICOptions
	if o.FIFOQueues > 0 {
		nicOpts.QDisc = fifo.New(ep, o.FIFOQueues, 1000)
	}
	if err := s.CreateNICWithOptions(NICID, ep, nicOpts); err != nil {
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
