package main

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/localgroup"
)

// TestMeasureRequests measures HTTP/3 requests per second, xdpmux quic
// policy against kernel SO_REUSEPORT sockets: 16 connections, each sending
// GET /whoami back to back for 10 s per system. It runs only with
// XDPMUX_H3_MEASURE=1 (a measurement, not a check; docs/QUIC.md).
func TestMeasureRequests(t *testing.T) {
	if os.Getenv("XDPMUX_H3_MEASURE") != "1" {
		t.Skip("a measurement: set XDPMUX_H3_MEASURE=1")
	}
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: labPrefix})
	const members, conns, dur = 4, 16, 10 * time.Second
	for _, tc := range []struct {
		name string
		o    options
	}{
		{"xdpmux quic", options{Members: members, Policy: localgroup.QUIC}},
		{"kernel", options{Members: members, Kernel: true}},
	} {
		s := startIn(t, lab, tc.o)
		cs, _ := clients(t, lab, conns)
		var n, fails atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(dur)
		start := time.Now()
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					if _, err := c.whoami(); err != nil {
						fails.Add(1)
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		t.Logf("%-12s %d members, %d connections: %.0f requests/s (%d requests in %v, %d failed connections)",
			tc.name, members, conns, float64(n.Load())/el.Seconds(), n.Load(), el.Round(time.Millisecond), fails.Load())
		for _, c := range cs {
			c.close()
		}
		if err := s.close(); err != nil {
			t.Error(err)
		}
	}
}
