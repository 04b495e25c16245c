//go:build linux

package dataplane

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// kernelNeighbors is the NeighborTable OpenInterface installs: the route
// the kernel would take to a destination (its next hop and preferred
// source address) and that next hop's entry in the kernel's neighbour
// table of the interface. The kernel fills that table from the ARP and
// neighbour discovery traffic the XDP program passes to it: it answers
// solicitations for its addresses and learns the solicitor's link address
// from them, and resolves what it is asked to. Static entries (`ip neigh
// add ... nud permanent`, the lab's) are found there too.
type kernelNeighbors struct {
	h       *netlink.Handle // in the interface's namespace; locks its socket
	ifindex int
	hw      [6]byte
}

func (v *nsView) neighbors(ifindex int) (*kernelNeighbors, error) {
	link, err := v.route.LinkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("link %d: %w", ifindex, err)
	}
	k := &kernelNeighbors{h: v.route, ifindex: ifindex}
	copy(k.hw[:], link.Attrs().HardwareAddr) // shorter (no link address): zeros
	return k, nil
}

// usableNeigh are the states in which the kernel itself sends to an
// entry's link address.
const usableNeigh = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
	netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

func (k *kernelNeighbors) Neighbor(dst netip.Addr, wait time.Duration) (Neighbor, error) {
	routes, err := k.h.RouteGet(dst.AsSlice())
	if err != nil || len(routes) == 0 {
		return Neighbor{}, fmt.Errorf("%w: no route to %s (%v)", ErrUnknownPeer, dst, err)
	}
	r := routes[0]
	if r.LinkIndex != k.ifindex {
		return Neighbor{}, fmt.Errorf("%w: the route to %s leaves by interface %d, not %d", ErrUnknownPeer, dst, r.LinkIndex, k.ifindex)
	}
	hop := dst
	if gw, ok := netip.AddrFromSlice(r.Gw); ok && r.Gw != nil {
		hop = gw.Unmap()
	}
	n := Neighbor{LocalHW: k.hw}
	if src, ok := netip.AddrFromSlice(r.Src); ok {
		n.Local = src.Unmap()
	}
	fam := unix.AF_INET6
	if hop.Is4() {
		fam = unix.AF_INET
	}
	deadline := time.Now().Add(wait)
	asked := false
	for pause := time.Millisecond; ; pause = min(2*pause, 20*time.Millisecond) {
		hw, state, err := k.lookup(hop, fam)
		if err != nil {
			return Neighbor{}, fmt.Errorf("%w: neighbour %s of %s: %w", ErrUnknownPeer, hop, dst, err)
		}
		if state&usableNeigh != 0 {
			n.HW = hw
			return n, nil
		}
		if !asked {
			// Resolve it, as the kernel does for a packet of its own:
			// NTF_USE creates the entry if needed and sends the first
			// solicitation (neigh_event_send).
			asked = true
			err := k.h.NeighSet(&netlink.Neigh{LinkIndex: k.ifindex, Family: fam, IP: hop.AsSlice(), Flags: netlink.NTF_USE})
			if err != nil {
				return Neighbor{}, fmt.Errorf("%w: resolve neighbour %s of %s: %w", ErrUnknownPeer, hop, dst, err)
			}
		}
		if !time.Now().Add(pause).Before(deadline) {
			return Neighbor{}, fmt.Errorf("%w: neighbour %s of %s not resolved (state %#x); resolution started",
				ErrUnknownPeer, hop, dst, state)
		}
		time.Sleep(pause)
	}
}

// lookup returns hop's entry in the interface's neighbour table (state 0
// when there is none).
func (k *kernelNeighbors) lookup(hop netip.Addr, fam int) (hw [6]byte, state int, err error) {
	list, err := k.h.NeighList(k.ifindex, fam)
	if err != nil {
		return hw, 0, err
	}
	for _, e := range list {
		if a, ok := netip.AddrFromSlice(e.IP); ok && a.Unmap() == hop {
			if len(e.HardwareAddr) != 6 {
				return hw, 0, nil
			}
			copy(hw[:], e.HardwareAddr)
			return hw, e.State, nil
		}
	}
	return hw, 0, nil
}
