package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	gvxdp "gvisor.dev/gvisor/pkg/tcpip/link/xdp"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/xdpmux/xdpmux/dataplane/netstackep"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// gvisorLinks: -gvisor-link is implemented here.
const gvisorLinks = true

// gvisorFIFOQueues is the fifo queueing discipline gVisor's own endpoints
// are written through (netstackep.StackOptions.FIFOQueues), as runsc does.
const gvisorFIFOQueues = 2

// gvisorLink is the one gVisor link endpoint of the -gvisor-link variant
// and what it holds beside the stack: its socket and, for xdp, the XDP
// program that redirects the stack's TCP port to that socket.
type gvisorLink struct {
	fd     int
	keepFD bool             // xdp: see undetachable
	prog   *xdpprog.Program // xdp only
}

// close releases what the link holds; the stack must be destroyed first
// (its Destroy stops the endpoint's goroutines).
func (g *gvisorLink) close() error {
	var errs []error
	if g.prog != nil {
		errs = append(errs, g.prog.Close())
		g.prog = nil
	}
	if g.fd >= 0 && !g.keepFD {
		errs = append(errs, unix.Close(g.fd))
	}
	g.fd = -1
	return errors.Join(errs...)
}

// startGVisor builds the one gVisor stack of the -gvisor-link variant on
// gVisor's own link endpoint over o.Iface, and its listener.
//
//   - fdbased: an AF_PACKET socket bound to the interface (ETH_P_ALL,
//     outgoing frames ignored, PACKET_VNET_HDR for the host's GSO), read
//     with recvmmsg, written with GSO up to 64 KiB. The kernel sees every
//     frame too: -addr must be an address it does not own on the interface
//     (it would reset connections to its own address); the stack answers
//     ARP for it.
//   - xdp: gVisor's AF_XDP endpoint (its own UMEM and rings) on queue 0,
//     fed by xdpmux's XDP program (rxq/xdpprog) with a claim on -addr's TCP
//     port: the interface must have one receive queue. ARP stays with the
//     kernel, which owns -addr; the stack gets the kernel's neighbour
//     entries of the interface as static neighbours.
func (s *server) startGVisor(o options) (err error) {
	ni, err := net.InterfaceByName(o.Iface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", o.Iface, err)
	}
	trust := o.RXChecksum == "trust" || (o.RXChecksum == "auto" && isVeth(o.Iface))
	a := o.Addr.Addr().Unmap()
	g := &gvisorLink{fd: -1}
	m := s.members[0]
	m.gv = g
	var ep stack.LinkEndpoint
	switch o.GVisorLink {
	case gvisorFdbased:
		if g.fd, err = packetSocket(ni.Index); err != nil {
			return err
		}
		ep, err = fdbased.New(&fdbased.Options{
			FDs:                []int{g.fd},
			MTU:                uint32(ni.MTU),
			EthernetHeader:     true,
			Address:            tcpip.LinkAddress(ni.HardwareAddr),
			PacketDispatchMode: fdbased.RecvMMsg,
			GSOMaxSize:         65536,
			RXChecksumOffload:  trust,
			InterfaceIndex:     ni.Index,
		})
		if err != nil {
			return fmt.Errorf("gvisor fdbased endpoint: %w", err)
		}
	case gvisorXDP:
		if g.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return fmt.Errorf("gvisor xdp endpoint: %w", os.NewSyscallError("socket AF_XDP", err))
		}
		ep, err = gvxdp.New(&gvxdp.Options{
			FD:                g.fd,
			Address:           tcpip.LinkAddress(ni.HardwareAddr),
			RXChecksumOffload: trust,
			InterfaceIndex:    ni.Index,
			Bind:              true,
			QueueID:           0,
		})
		if err != nil {
			return fmt.Errorf("gvisor xdp endpoint on %s queue 0: %w", o.Iface, err)
		}
		ep = &undetachable{ep}
		if g.prog, err = xdpprog.Attach(ni.Index, xdpprog.Options{}); err != nil {
			return err
		}
		if err := g.prog.Register(0, g.fd); err != nil {
			return err
		}
		if err := g.prog.Claim(uint8(pcb.TCP), a, o.Addr.Port()); err != nil {
			return err
		}
	}
	// From here the endpoint's receive goroutine runs (CreateNIC attaches
	// it): xdp's polls its socket forever, which must stay open (see
	// undetachable).
	g.keepFD = o.GVisorLink == gvisorXDP
	m.stack, err = netstackep.NewStackFor(ep, netstackep.StackOptions{FIFOQueues: gvisorFIFOQueues},
		netip.PrefixFrom(a, a.BitLen()))
	if err != nil {
		return err
	}
	if o.GVisorLink == gvisorXDP {
		if err := addKernelNeighbors(m.stack, ni.Index); err != nil {
			return err
		}
	}
	proto := header.IPv4ProtocolNumber
	if a.Is6() {
		proto = header.IPv6ProtocolNumber
	}
	rxc := "verify"
	if trust {
		rxc = "trust"
	}
	s.variant = fmt.Sprintf("gVisor stack on gVisor's %s endpoint on %s, rx checksums %s", o.GVisorLink, o.Iface, rxc)
	return m.listen(a, o.Addr.Port(), proto)
}

// packetSocket opens the fdbased variant's AF_PACKET socket on ifindex.
func packetSocket(ifindex int) (int, error) {
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, os.NewSyscallError("socket AF_PACKET", err)
	}
	for _, so := range []struct {
		name string
		opt  int
	}{
		{"setsockopt PACKET_IGNORE_OUTGOING", unix.PACKET_IGNORE_OUTGOING},
		{"setsockopt PACKET_VNET_HDR", unix.PACKET_VNET_HDR},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, so.opt, 1); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError(so.name, err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind AF_PACKET", err)
	}
	return fd, nil
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// addKernelNeighbors gives st the usable IPv4 and IPv6 entries of the
// kernel's neighbour table of ifindex as static neighbours: the xdp
// variant's stack never sees ARP (the XDP program leaves it to the
// kernel). A snapshot, taken once: the lab's entries are permanent.
func addKernelNeighbors(st *stack.Stack, ifindex int) error {
	const usable = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
		netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP
	for _, fam := range []struct {
		af    int
		proto tcpip.NetworkProtocolNumber
	}{{unix.AF_INET, header.IPv4ProtocolNumber}, {unix.AF_INET6, header.IPv6ProtocolNumber}} {
		list, err := netlink.NeighList(ifindex, fam.af)
		if err != nil {
			return fmt.Errorf("neighbours of ifindex %d: %w", ifindex, err)
		}
		for _, n := range list {
			if n.State&usable == 0 || len(n.HardwareAddr) != 6 {
				continue
			}
			addr, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			if fam.af == unix.AF_INET {
				addr = addr.Unmap()
			}
			if terr := st.AddStaticNeighbor(netstackep.NICID, fam.proto, tcpip.AddrFromSlice(addr.AsSlice()),
				tcpip.LinkAddress(n.HardwareAddr)); terr != nil {
				return fmt.Errorf("static neighbour %s: %s", addr, terr)
			}
		}
	}
	return nil
}

// undetachable wraps gVisor's xdp endpoint, which cannot be detached at
// this gVisor version: its Attach(nil) takes the endpoint's lock and then
// calls IsAttached, which takes the same lock for reading (a deadlock,
// pkg/tcpip/link/xdp/endpoint.go:184), and its dispatch loop does not end
// when its stop fd fires (dispatch returns "continue" when stopped, so the
// loop would spin). Attach(nil) and Wait do nothing here: when the stack
// is destroyed, the endpoint's receive goroutine stays blocked in ppoll on
// the socket, which is therefore never closed (closing it would make the
// loop spin). The XDP program is detached, so nothing reaches it. One
// goroutine, socket and 2 MiB UMEM are left behind per stopped xdp
// variant.
type undetachable struct{ stack.LinkEndpoint }

// Attach implements stack.LinkEndpoint: attaching nil does nothing.
func (u *undetachable) Attach(d stack.NetworkDispatcher) {
	if d != nil {
		u.LinkEndpoint.Attach(d)
	}
}

// Wait implements stack.LinkEndpoint: the receive goroutine never ends.
func (*undetachable) Wait() {}
