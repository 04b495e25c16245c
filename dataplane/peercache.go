package dataplane

import (
	"encoding/binary"
	"net/netip"
)

// peerCache remembers, per remote address, how the endpoint last heard
// from it: the link header to answer with and the queue. It is a small
// direct-mapped table (a newer peer evicts an older one in the same slot),
// written by take under the endpoint's mutex: no allocation per frame.
type peerCache struct {
	e [peerCacheSize]peerEntry
}

const peerCacheSize = 128 // a power of two

type peerEntry struct {
	peer  netip.Addr // remote address (unmapped)
	local netip.Addr // the local address it sent to
	l2    [maxL2]byte
	l2Len uint8
	queue int32
}

func peerIndex(a netip.Addr) int {
	b := a.As16()
	h := binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])
	h *= 0x9e3779b97f4a7c15
	return int(h >> (64 - 7))
}

// learn records f's sender. The link header is stored swapped: the
// sender's MAC as destination, ours as source, tags and ethertype kept.
func (c *peerCache) learn(f *Frame) {
	l2 := int(f.l3)
	if l2 > maxL2 || l2 < 14 {
		return
	}
	p := &c.e[peerIndex(f.Src.Addr())]
	d := f.Data
	if p.peer == f.Src.Addr() && p.local == f.Dst.Addr() && p.queue == int32(f.Queue) &&
		int(p.l2Len) == l2 && [6]byte(p.l2[0:6]) == [6]byte(d[6:12]) && [6]byte(p.l2[6:12]) == [6]byte(d[0:6]) {
		return
	}
	p.peer, p.local, p.queue, p.l2Len = f.Src.Addr(), f.Dst.Addr(), int32(f.Queue), uint8(l2)
	swappedL2(p.l2[:l2], d[:l2])
}

func (c *peerCache) lookup(a netip.Addr) (peerEntry, bool) {
	p := &c.e[peerIndex(a)]
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
