package main

import (
	"net/netip"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestServeXDP6 is TestServeXDP's TX-ring variant over IPv6: an IPv6 lab,
// the gVisor stacks on the receiver's 2001:2:: address, Go's client
// dialing it from the sending namespace; the stacks answer through the
// peer cache (Endpoint.SendIP), with no neighbour left unknown.
func TestServeXDP6(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: labPrefix, IPv6: true})
	const members = 3
	addr := netip.AddrPortFrom(lab.RecvAddr6, 80)
	s := startIn(t, lab, options{Members: members, TX: txAuto, Addr: addr})
	t.Logf("variant: %s", s.variant)
	exerciseAt(t, lab, s, members, addr)
	for _, m := range s.members {
		if st := m.link.Stats(); st.TXNoPeer != 0 || st.RXDropped != 0 || st.TXErrors != 0 {
			t.Errorf("member %d link: %+v", m.id, st)
		}
	}
	var sent uint64
	for _, q := range s.ifc.TXStats() {
		if !q.Supported {
			t.Errorf("queue %d TX: %+v, want a TX ring", q.Queue, q)
		}
		sent += q.Sent
	}
	if sent < 10<<20/1514 {
		t.Errorf("%d frames sent on the TX rings, want at least the 10 MB body's", sent)
	}
	tot := s.ifc.Stats().Totals()
	if tot.RX == 0 || tot.Unmatched != 0 || tot.MalformedTotal() != 0 {
		t.Errorf("dataplane totals: %+v", tot)
	}
	if err := s.stopMembers(); err != nil {
		t.Error(err)
	}
	if err := s.ifc.CheckFrames(); err != nil {
		t.Error(err)
	}
}
