package main

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
)

// TestRunDualStackGroups is `run -dual-stack-groups` end to end in an
// IPv6 lab: four sinks bound to [::]:7100 dual-stack (`/4@dual`) form one
// group, and IPv4 and IPv6 datagrams from the peer namespace reach all
// four; `stats` counts every one, nothing unmatched.
func TestRunDualStackGroups(t *testing.T) {
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: "xrd", IPv6: true})
	sock := filepath.Join(t.TempDir(), "run", "xdpmux.sock")
	run := startRun(t, lab, "-ctl", sock, "-dual-stack-groups", "-sink", "udp/[::]:7100/4@dual")
	ports := make([]uint16, 32)
	for i := range ports {
		ports[i] = uint16(41000 + i)
	}
	const n = 400
	for _, a := range []netip.Addr{lab.RecvAddr, lab.RecvAddr6} {
		if err := netlab.SendUDP(lab, netip.AddrPortFrom(a, 7100), ports, func(i int) []byte { return fmt.Appendf(nil, "%d", i) }, n); err != nil {
			t.Fatal(err)
		}
	}
	var snap ctl.StatsSnapshot
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if snap, err = ctl.Stats(sock); err != nil {
			t.Fatal(err)
		}
		if snap.Totals.RX >= 2*n || time.Now().After(deadline) {
			break
		}
	}
	var members int
	var delivered uint64
	for _, e := range snap.Endpoints {
		if !strings.HasPrefix(e.Name, "udp/[::]:7100#") {
			continue
		}
		members++
		delivered += e.Delivered
		t.Logf("%s: %d", e.Name, e.Delivered)
		if e.Delivered == 0 {
			t.Errorf("%s got nothing of %d IPv4 and %d IPv6 datagrams", e.Name, n, n)
		}
	}
	if members != 4 || delivered != 2*n || snap.Totals.Unmatched != 0 {
		t.Errorf("%d members delivered %d (unmatched %d), want 4 members, %d, 0", members, delivered, snap.Totals.Unmatched, 2*n)
	}
	run.stop(t)
}
