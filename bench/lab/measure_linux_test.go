package lab

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestMeasureQuick runs a shortened benchmark end to end and checks the
// report's shape (never speed). It runs only with XDPMUX_BENCH=1, as
// root.
func TestMeasureQuick(t *testing.T) {
	if os.Getenv("XDPMUX_BENCH") != "1" {
		t.Skip("benchmark: set XDPMUX_BENCH=1 to run")
	}
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	cfg := Quick()
	cfg.Generator = "txgen"
	cfg.Sockets = []int{1, 2}
	cfg.DisruptionMembers = []int{4}
	cfg.Warmup, cfg.Window = 200*time.Millisecond, 300*time.Millisecond
	cfg.Handler = true
	cfg.Logf = t.Logf
	rep, err := Measure(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Measure: %v (notes %v)", err, rep)
	}
	if err := rep.Check(); err != nil {
		t.Fatal(err)
	}
	for _, sys := range []string{SystemXDPDrop, SystemRxdrop, SystemCRef, SystemXDPMux, SystemXDPMuxHandler, SystemKernel, SystemKernelBusyPoll, SystemKernelUntuned} {
		found := false
		for _, r := range rep.Runs {
			found = found || r.System == sys
		}
		if !found {
			t.Errorf("no %s run; notes %v", sys, rep.Notes)
		}
	}
	if len(rep.Disruption) != 4 {
		t.Errorf("got %d disruption results, want 3 policies + kernel", len(rep.Disruption))
	}
	if len(rep.Notes) > 0 {
		t.Errorf("notes: %v", rep.Notes)
	}
}
