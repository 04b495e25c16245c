package latency

import (
	"context"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestMeasure runs every system briefly: at max and at 1000 pps every
// system must answer, and at 1000 pps (far below what any of them
// sustains) lose nothing.
func TestMeasure(t *testing.T) {
	labtest.RequirePrivileged(t, "network namespaces, XDP and AF_XDP")
	cfg := Config{
		Payloads: []int{64}, Rates: []float64{1000}, MaxShare: 0.01, Clients: 2, Outstanding: 4,
		Warmup: 100 * time.Millisecond, Window: 200 * time.Millisecond, Drain: 100 * time.Millisecond,
		Prefix: "xlatt", Logf: t.Logf,
	}
	rep, err := Measure(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(); err != nil {
		t.Fatal(err)
	}
	if !rep.Setup.ServerProcess || rep.Setup.RcvBuf <= 0 || rep.Setup.SocketMode == "" {
		t.Errorf("setup %+v: want server_process, the kernel's SO_RCVBUF and the AF_XDP mode from the children", rep.Setup)
	}
	if len(rep.Notes) > 0 {
		t.Errorf("notes: %q", rep.Notes)
	}
	for _, sys := range systems {
		mx := rep.Find(sys, 64, LoadMax, 0)
		if mx == nil || mx.Received == 0 {
			t.Errorf("%s: max run %+v: want replies", sys, mx)
		}
		fx := rep.Find(sys, 64, LoadFixed, 1000)
		if fx == nil || fx.Received == 0 || fx.Lost != 0 {
			t.Errorf("%s: 1000 pps run %+v: want replies and none lost", sys, fx)
		}
		// Every server stamps its replies: both legs are measured, and
		// neither is longer than the longest round trip.
		for _, r := range []*Run{mx, fx} {
			if r == nil {
				continue
			}
			// The window's CPU was sampled: the clients alone keep
			// the machine busy for part of it.
			if r.BusyShare <= 0 || r.CPUUsPerReply <= 0 {
				t.Errorf("%s %s: busy %.3f, %.1f µs CPU per reply: want the window's CPU measured", sys, r.Load, r.BusyShare, r.CPUUsPerReply)
			}
			if r.ReqP50Us <= 0 || r.RepP50Us <= 0 || r.ReqP999Us > 1.02*r.MaxUs || r.RepP999Us > 1.02*r.MaxUs {
				t.Errorf("%s %s: legs req %.1f/%.1f rep %.1f/%.1f µs (p50/p99.9), max round trip %.1f: want both measured, within the round trip",
					sys, r.Load, r.ReqP50Us, r.ReqP999Us, r.RepP50Us, r.RepP999Us, r.MaxUs)
			}
		}
	}
}
