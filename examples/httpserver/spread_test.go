package main

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpmux/xdpmux/bench/fairness"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/rxq/rss"
)

// Ephemeral ports as Linux hands them to connect() (ip_local_port_range
// 32768-60999): even ports, one after the other with a small random gap
// (net/ipv4/inet_hashtables.c: the per-destination offset grows by
// 2 + 2*rand[0,8) after each connect since "tcp: add small random
// increments to the source port").
const (
	portLo, portHi = 32768, 60999
)

// portModel yields the source ports of c connections made one after the
// other.
type portModel struct {
	name string
	next func(rng *rand.Rand, c int) []uint16
}

var portModels = []portModel{
	{"linux connect (even, gap 2+2*rand[0,8))", func(rng *rand.Rand, c int) []uint16 {
		ps := make([]uint16, 0, c)
		p := portLo + 2*rng.IntN((portHi-portLo)/2)
		for range c {
			if p > portHi {
				p = portLo + p%2
			}
			ps = append(ps, uint16(p))
			p += 2 + 2*rng.IntN(8)
		}
		return ps
	}},
	{"strictly sequential", func(rng *rand.Rand, c int) []uint16 {
		ps := make([]uint16, c)
		p := portLo + rng.IntN(portHi-portLo-c)
		for i := range ps {
			ps[i] = uint16(p + i)
		}
		return ps
	}},
	{"uniform random (reference)", func(rng *rand.Rand, c int) []uint16 {
		ps := make([]uint16, c)
		for i := range ps {
			ps[i] = uint16(portLo + rng.IntN(portHi-portLo+1))
		}
		return ps
	}},
}

// pickMembers returns each port's member (0..n-1) for connections from src
// to dst, as the dataplane picks: Toeplitz over addresses and ports with
// the default key, then the group's threshold pick with the queue shift of
// nq queues.
func pickMembers(tz *rss.Toeplitz, g *localgroup.Group, src, dst netip.AddrPort, ports []uint16) []int {
	var addrs [8]byte
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(addrs[:4], s4[:])
	copy(addrs[4:], d4[:])
	var pp [4]byte
	binary.BigEndian.PutUint16(pp[2:], dst.Port())
	out := make([]int, len(ports))
	for i, p := range ports {
		binary.BigEndian.PutUint16(pp[:2], p)
		out[i] = int(g.Pick(tz.HashV4(addrs[:], pp[:]))) - 1
	}
	return out
}

// TestWrkPortSpread answers whether the uneven spreads wrk's connections
// sometimes get (Jain 0.921 for 128 connections on 4 members, docs/
// NETSTACK.md) are noise or a bias of the Toeplitz hash over the source
// ports one client gets: it compares the distribution of Jain's index over
// many simulated wrk runs (lab addresses, dst port 80, 2 queues, threshold
// pick) for Linux's port choice with uniformly random ports.
func TestWrkPortSpread(t *testing.T) {
	tz, err := rss.NewToeplitz(rss.DefaultKey[:])
	if err != nil {
		t.Fatal(err)
	}
	const runs = 4000
	for _, members := range []int{3, 4} {
		g := localgroup.New(0, localgroup.Threshold, localgroup.QueueShift(2))
		for m := range members {
			if err := g.Add(localgroup.Member(m + 1)); err != nil {
				t.Fatal(err)
			}
		}
		// Long-run share of each member over every even ephemeral port,
		// for a few lab addresses (netlab's 198.18.X.1 -> 198.18.X.2).
		for _, x := range []byte{0, 77, 200} {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, x, 1}), 0)
			dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, x, 2}), 80)
			var ports []uint16
			for p := portLo; p <= portHi; p += 2 {
				ports = append(ports, uint16(p))
			}
			counts := make([]int, members)
			for _, m := range pickMembers(tz, g, src, dst, ports) {
				counts[m]++
			}
			for m, c := range counts {
				if share := float64(c) / float64(len(ports)); math.Abs(share-1/float64(members)) > 0.01 {
					t.Errorf("%d members, 198.18.%d.x: member %d gets %.3f of the even ports, want %.3f",
						members, x, m, share, 1/float64(members))
				}
			}
			t.Logf("%d members, 198.18.%d.1 -> .2:80: even ports per member %v", members, x, counts)
		}
		for _, conns := range []int{64, 128} {
			for _, pm := range portModels {
				rng := rand.New(rand.NewPCG(uint64(conns), uint64(members)))
				js := make([]float64, 0, runs)
				below := 0
				for r := range runs {
					x := byte(r)
					src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, x, 1}), 0)
					dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, x, 2}), 80)
					xs := make([]float64, members)
					for _, m := range pickMembers(tz, g, src, dst, pm.next(rng, conns)) {
						xs[m]++
					}
					j := fairness.Jain(xs)
					js = append(js, j)
					if j <= 0.921 {
						below++
					}
				}
				slices.Sort(js)
				var mean float64
				for _, j := range js {
					mean += j
				}
				mean /= float64(len(js))
				t.Logf("%d members, %3d conns, %-42s Jain mean %.3f, p5 %.3f, p50 %.3f, P(<=0.921) %.3f",
					members, conns, pm.name+":", mean, js[len(js)/20], js[len(js)/2], float64(below)/runs)
			}
		}
	}
}
