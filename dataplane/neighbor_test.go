package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet"
)

// fakeNeighbors answers for the addresses it holds, and counts calls.
type fakeNeighbors struct {
	m     map[netip.Addr]Neighbor
	calls atomic.Int64
}

func (f *fakeNeighbors) Neighbor(dst netip.Addr, _ time.Duration) (Neighbor, error) {
	f.calls.Add(1)
	n, ok := f.m[dst]
	if !ok {
		return Neighbor{}, fmt.Errorf("%w: fake: no %s", ErrUnknownPeer, dst)
	}
	return n, nil
}

// TestNeighborFallback: a peer cache miss asks Config.Neighbors; its
// answer builds the frame (its MACs, its local address for a wildcard
// endpoint) and enters the cache, so the next send does not ask again; its
// error is ErrUnknownPeer. IPv4 and IPv6, WriteTo and SendIP.
func TestNeighborFallback(t *testing.T) {
	peer4 := netip.MustParseAddrPort("198.19.1.2:5353")
	peer6 := netip.MustParseAddrPort("[2001:2::7]:5353")
	local4 := netip.MustParseAddr("198.18.0.3")
	local6 := netip.MustParseAddr("2001:2::1")
	nt := &fakeNeighbors{m: map[netip.Addr]Neighbor{
		peer4.Addr(): {HW: [6]byte(peerMAC), LocalHW: [6]byte(localMAC), Local: local4},
		peer6.Addr(): {HW: [6]byte(peerMAC), LocalHW: [6]byte(localMAC), Local: local6},
		// A wrong-family local address cannot be sent from.
		netip.MustParseAddr("2001:2::8"): {HW: [6]byte(peerMAC), LocalHW: [6]byte(localMAC), Local: local4},
	}}
	l := newLab(t, 1, txOpts(), Config{Neighbors: nt})
	ep4 := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	ep6 := l.bind(udpSpec("[::]:53", false), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ep   *Endpoint
		peer netip.AddrPort
		src  netip.AddrPort
	}{
		{ep4, peer4, netip.AddrPortFrom(local4, 53)},
		{ep6, peer6, netip.AddrPortFrom(local6, 53)},
	} {
		before := nt.calls.Load()
		if err := tt.ep.WriteTo([]byte("one"), tt.peer); err != nil {
			t.Fatalf("write to %s: %v", tt.peer, err)
		}
		if err := tt.ep.WriteTo([]byte("two"), tt.peer); err != nil {
			t.Fatalf("second write to %s: %v", tt.peer, err)
		}
		ipLen := 20
		if tt.peer.Addr().Is6() {
			ipLen = 40
		}
		pkt := append(make([]byte, ipLen+8), "three"...)
		packet.PutIPUDP(pkt, tt.src, tt.peer, ipLen, 64)
		if err := tt.ep.SendIP(PeerQueue, pkt); err != nil {
			t.Fatalf("send ip to %s: %v", tt.peer, err)
		}
		if got := nt.calls.Load() - before; got != 1 {
			t.Errorf("%s: %d neighbour lookups, want 1 (then the peer cache)", tt.peer, got)
		}
		sent := takeSent(t, l.set[0], 3)
		for i, p := range []string{"one", "two", "three"} {
			checkUDP(t, sent[i], tt.src, tt.peer, []byte(p), 0)
		}
	}
	for _, dst := range []netip.AddrPort{
		netip.MustParseAddrPort("198.19.9.9:53"),
		netip.MustParseAddrPort("[2001:2::9]:53"),
		netip.MustParseAddrPort("[2001:2::8]:53"),
	} {
		ep := ep4
		if dst.Addr().Is6() {
			ep = ep6
		}
		if err := ep.WriteTo([]byte("x"), dst); !errors.Is(err, ErrUnknownPeer) {
			t.Errorf("write to %s: got %v, want ErrUnknownPeer", dst, err)
		}
		ipLen := 20
		if dst.Addr().Is6() {
			ipLen = 40
		}
		pkt := make([]byte, ipLen+8)
		packet.PutIPUDP(pkt, netip.AddrPortFrom(local4, 53), dst, ipLen, 64)
		if dst.Addr().Is6() {
			packet.PutIPUDP(pkt, netip.AddrPortFrom(local6, 53), dst, ipLen, 64)
		}
		if err := ep.SendIP(PeerQueue, pkt); !errors.Is(err, ErrUnknownPeer) {
			t.Errorf("send ip to %s: got %v, want ErrUnknownPeer", dst, err)
		}
	}
	waitTX(t, l.d, 0)
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
}
