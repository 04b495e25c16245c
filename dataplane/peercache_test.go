package dataplane

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
)

// TestPeerCacheSrcIndex checks that the slot learn computes from a frame's
// IP header is the one lookup computes from the address, for random IPv4
// and IPv6 sources and every table size.
func TestPeerCacheSrcIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for b := 0; b <= 20; b += 4 {
		c := newPeerCache(1 << b)
		for range 500 {
			var src netip.AddrPort
			var frame []byte
			if rng.IntN(2) == 0 {
				src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}), 1)
				frame = packettest.UDP4(src, netip.MustParseAddrPort("198.18.0.1:53"), nil)
			} else {
				var a [16]byte
				for i := range a {
					a[i] = byte(rng.Uint32())
				}
				src = netip.AddrPortFrom(netip.AddrFrom16(a), 1)
				frame = packettest.UDP6(src, netip.MustParseAddrPort("[2001:2::1]:53"), nil)
			}
			if got, want := c.srcIndex(frame[14:]), c.index(src.Addr()); got != want {
				t.Fatalf("size %d, %v: srcIndex %d, index %d", len(c.e), src.Addr(), got, want)
			}
		}
	}
}
