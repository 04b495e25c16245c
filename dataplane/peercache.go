package dataplane

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
)

// Peer cache sizes (EndpointOptions.PeerCacheSize, Endpoint.GrowPeerCache).
const (
	// DefaultPeerCacheSize is the number of peers an endpoint remembers
	// when EndpointOptions.PeerCacheSize is 0.
	DefaultPeerCacheSize = 128
	// MaxPeerCacheSize bounds EndpointOptions.PeerCacheSize and
	// GrowPeerCache.
	MaxPeerCacheSize = 1 << 20
)

// peerCache remembers, per remote address, how the endpoint last heard
// from it: the link header to answer with and the queue. It is the one
// neighbour table of xdpmux: WriteTo, SendIP and AppendFrame read it,
// dataplane/netstackep keeps none of its own. A direct-mapped table (a
// newer peer evicts an older one in the same slot) of a power-of-two size,
// written by take under the endpoint's mutex: no allocation per frame.
type peerCache struct {
	e     []peerEntry
	shift uint8 // 64 - log2(len(e))
}

type peerEntry struct {
	peer  netip.Addr // remote address (unmapped)
	local netip.Addr // the local address it sent to
	l2    [maxL2]byte
	l2Len uint8
	queue int32
}

// checkPeerCacheSize validates a requested size (0: the default).
func checkPeerCacheSize(n int) error {
	if n < 0 || n > MaxPeerCacheSize {
		return fmt.Errorf("%w: peer cache size %d, want 0..%d", ErrInvalidConfig, n, MaxPeerCacheSize)
	}
	return nil
}

// newPeerCache returns a cache of at least n slots (0: the default),
// rounded up to a power of two. n must have passed checkPeerCacheSize.
func newPeerCache(n int) peerCache {
	if n == 0 {
		n = DefaultPeerCacheSize
	}
	b := bits.Len(uint(n - 1)) // n rounded up to 1<<b
	return peerCache{e: make([]peerEntry, 1<<b), shift: uint8(64 - b)}
}

func (c *peerCache) index(a netip.Addr) int {
	b := a.As16()
	return c.slot(binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:]))
}

// srcIndex is index(the source address of ip, an IPv4 or IPv6 header),
// computed from the header's bytes: an IPv4 address a.b.c.d is
// ::ffff:a.b.c.d in As16, whose first half is zero.
func (c *peerCache) srcIndex(ip []byte) int {
	if ip[0]>>4 == 4 {
		return c.slot(0xffff0000 | uint64(binary.LittleEndian.Uint32(ip[12:16]))<<32)
	}
	return c.slot(binary.LittleEndian.Uint64(ip[8:16]) ^ binary.LittleEndian.Uint64(ip[16:24]))
}

// slot maps the folded address h to a slot.
func (c *peerCache) slot(h uint64) int {
	h *= 0x9e3779b97f4a7c15
	return int(h >> c.shift) // a shift of 64 (one slot) gives 0
}

// grow replaces the table by one of at least n slots, keeping the entries
// (a collision in the new table keeps one of them). It never shrinks.
func (c *peerCache) grow(n int) {
	if n <= len(c.e) {
		return
	}
	old := c.e
	*c = newPeerCache(n)
	for i := range old {
		if old[i].l2Len != 0 {
			c.e[c.index(old[i].peer)] = old[i]
		}
	}
}

// learn records f's sender. The link header is stored swapped: the
// sender's MAC as destination, ours as source, tags and ethertype kept.
func (c *peerCache) learn(f *Frame) {
	l2 := int(f.l3)
	if l2 > maxL2 || l2 < minFrame {
		return
	}
	d := f.Data
	p := &c.e[c.srcIndex(d[l2:])]
	if p.peer == f.Src.Addr() && p.local == f.Dst.Addr() && p.queue == int32(f.Queue) &&
		int(p.l2Len) == l2 && [6]byte(p.l2[0:6]) == [6]byte(d[6:12]) && [6]byte(p.l2[6:12]) == [6]byte(d[0:6]) &&
		string(p.l2[12:l2]) == string(d[12:l2]) {
		return
	}
	p.set(f)
}

// set makes p the entry learn would make of f (whose link header fits).
func (p *peerEntry) set(f *Frame) {
	l2 := int(f.l3)
	p.peer, p.local, p.queue, p.l2Len = f.Src.Addr(), f.Dst.Addr(), int32(f.Queue), uint8(l2)
	swappedL2(p.l2[:l2], f.Data[:l2])
}

// install enters p (a NeighborTable's answer) in its slot, evicting what
// was there, as learn does.
func (c *peerCache) install(p peerEntry) {
	c.e[c.index(p.peer)] = p
}

// lookup returns a's entry; the copy is the caller's.
func (c *peerCache) lookup(a netip.Addr) (peerEntry, bool) {
	p := &c.e[c.index(a)]
	if p.l2Len == 0 || p.peer != a {
		return peerEntry{}, false
	}
	return *p, true
}

// swappedL2 copies the link header src into dst with the MACs swapped. dst
// and src may overlap only if they are the same or dst starts after src.
func swappedL2(dst, src []byte) {
	var da, sa [6]byte
	copy(da[:], src[0:6])
	copy(sa[:], src[6:12])
	copy(dst, src)
	copy(dst[0:6], sa[:])
	copy(dst[6:12], da[:])
}
