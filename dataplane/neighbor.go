package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// NeighborTable is the peer cache's fallback (Config.Neighbors): the link
// address of a destination an endpoint has not heard from, or whose entry
// a newer peer evicted. OpenInterface makes one over the kernel's
// neighbour and routing tables of the interface's namespace
// (docs/REPLIES.md, "Peers never heard from").
type NeighborTable interface {
	// Neighbor returns how to reach dst (an unmapped address): the next
	// hop's and the interface's link addresses and the local address the
	// kernel would send from. When the next hop's link address is not
	// known yet it may start resolution (ARP, neighbour solicitation) and
	// wait up to wait for it; the error then wraps ErrUnknownPeer. It is
	// called only on a peer cache miss, and concurrently.
	Neighbor(dst netip.Addr, wait time.Duration) (Neighbor, error)
}

// Neighbor is what a NeighborTable knows of a destination.
type Neighbor struct {
	HW      [6]byte    // the next hop's link address (the destination MAC)
	LocalHW [6]byte    // the interface's link address (the source MAC)
	Local   netip.Addr // the source address the kernel would pick
}

// neighborWait is how long WriteTo waits for the kernel to resolve a
// destination it has no neighbour entry for (the first solicitation goes
// out at once; a peer on the link answers within a millisecond or so).
// SendIP and AppendFrame do not wait: the stacks that call them
// retransmit.
const neighborWait = 200 * time.Millisecond

// resolvePeer is the peer cache miss path: it asks Config.Neighbors, if
// set, for dst and enters the answer in the peer cache (untagged Ethernet
// header, queue 0), so the next send to dst finds it there. It is called
// without e.mu held. Without a NeighborTable it returns ErrUnknownPeer.
func (e *Endpoint) resolvePeer(dst netip.Addr, wait time.Duration) (peerEntry, error) {
	nt := e.d.cfg.Neighbors
	if nt == nil {
		return peerEntry{}, ErrUnknownPeer
	}
	n, err := nt.Neighbor(dst, wait)
	if err != nil {
		return peerEntry{}, err
	}
	p := peerEntry{peer: dst, local: n.Local.Unmap(), l2Len: 14}
	copy(p.l2[0:6], n.HW[:])
	copy(p.l2[6:12], n.LocalHW[:])
	et := uint16(0x86dd)
	if dst.Is4() {
		et = 0x0800
	}
	binary.BigEndian.PutUint16(p.l2[12:14], et)
	if !p.local.IsValid() || p.local.Is4() != dst.Is4() {
		return peerEntry{}, fmt.Errorf("%w: no local %s address to send to %s from", ErrUnknownPeer, family(dst), dst)
	}
	e.mu.Lock()
	if !e.closed {
		e.peers.install(p)
	}
	e.mu.Unlock()
	return p, nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}
