package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestServeXDP6 is TestServeXDP over IPv6: an IPv6 lab, the gVisor stacks
// on the receiver's 2001:2:: address, Go's client dialing it from the
// sending namespace; the stacks answer through the peer cache on the TX
// rings (Endpoint.SendIP) or the AF_PACKET fallback (AppendFrame), with no
// peer left unknown.
func TestServeXDP6(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	for _, tc := range []struct{ tx, want string }{
		{txAuto, txXDP},
		{txPacket, txPacket},
	} {
		t.Run("tx "+tc.tx, func(t *testing.T) {
			lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: labPrefix, IPv6: true})
			const members = 3
			addr := netip.AddrPortFrom(lab.RecvAddr6, 80)
			s := startIn(t, lab, options{Members: members, TX: tc.tx, Addr: addr})
			t.Logf("variant: %s", s.variant)
			if !strings.Contains(s.variant, "tx "+tc.want+",") {
				t.Fatalf("variant %q: want the stacks sending with -tx %s", s.variant, tc.want)
			}
			exerciseAt(t, lab, s, members, addr)
			for _, m := range s.members {
				if st := m.link.Stats(); st.TXNoPeer != 0 || st.RXDropped != 0 || st.TXErrors != 0 {
					t.Errorf("member %d link: %+v", m.id, st)
				}
			}
			var sent uint64
			for _, q := range s.ifc.TXStats() {
				sent += q.Sent
			}
			switch {
			case tc.want == txXDP && sent < 10<<20/1514:
				t.Errorf("%d frames sent on the TX rings, want at least the 10 MB body's", sent)
			case tc.want == txPacket && sent != 0:
				t.Errorf("%d frames sent on the TX rings, want none with -tx packet", sent)
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
		})
	}
}
