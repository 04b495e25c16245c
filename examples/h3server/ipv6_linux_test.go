package main

import (
	"net/netip"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/localgroup"
)

// TestSpread6 is TestSpread's quic policy over IPv6: HTTP/3 connections
// from the sending namespace's 2001:2:: address to the server on the
// receiver's, through xdpmux; each is answered, spread over all members,
// and keeps its member.
func TestSpread6(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: labPrefix, IPv6: true})
	const members, conns = 4, 40
	addr := netip.AddrPortFrom(lab.RecvAddr6, 443)
	startIn(t, lab, options{Members: members, Policy: localgroup.QUIC, Listen: addr})
	cs, idx := clientsOf(t, lab, addr, conns, nil)
	per := make([]int, members)
	for i, c := range cs {
		per[idx[i]]++
		again, err := c.whoami()
		if err != nil || again != idx[i] {
			t.Errorf("client %d: second request: member %d, %v, want member %d", i, again, err, idx[i])
		}
	}
	t.Logf("connections per member %v", per)
	for m, n := range per {
		if n == 0 {
			t.Errorf("member %d served none of %d connections (%v)", m, conns, per)
		}
	}
}
