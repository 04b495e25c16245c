package main

import (
	"errors"
	"testing"
)

const sampleOut = `> NOERROR www.example.test A 0.000100
> NOERROR ns.example.test AAAA 0.000300
> NOERROR mail.example.test A 0.000200
> T www.example.test A
Statistics:

  Queries sent:         100
  Queries completed:    99 (99.00%)
  Queries lost:         1 (1.00%)

  Response codes:       NOERROR 99 (100.00%)
  Average packet size:  request 33, response 65
  Run time (s):         1.000000
  Queries per second:   99.000000

  Average Latency (s):  0.000200 (min 0.000100, max 0.000300)
  Latency StdDev (s):   0.000050
`

func TestParseDNSPerf(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    perfRun
		wantErr bool
	}{
		{"summary and -v lines", sampleOut, perfRun{Sent: 100, Completed: 99, Lost: 1, QPS: 99, MeanMs: 0.2,
			P50Ms: 0.2, P90Ms: 0.3, P99Ms: 0.3, P999Ms: 0.3, MaxMs: 0.3}, false},
		{"no summary", "> NOERROR www.example.test A 0.0001\n", perfRun{}, true},
		{"empty", "", perfRun{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDNSPerf([]byte(tc.out))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errBadPerf) {
					t.Errorf("err %v: not errBadPerf", err)
				}
				return
			}
			const eps = 1e-9
			near := func(a, b float64) bool { return a-b < eps && b-a < eps }
			if got.Sent != tc.want.Sent || got.Completed != tc.want.Completed || got.Lost != tc.want.Lost ||
				!near(got.QPS, tc.want.QPS) || !near(got.MeanMs, tc.want.MeanMs) || !near(got.P50Ms, tc.want.P50Ms) ||
				!near(got.P99Ms, tc.want.P99Ms) || !near(got.MaxMs, tc.want.MaxMs) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPerfReportCheck(t *testing.T) {
	ok := perfRun{Sent: 10, Completed: 10, QPS: 5, P50Ms: 1, P90Ms: 2, P99Ms: 3, P999Ms: 4, MaxMs: 5}
	run := func(variant string, rate int, mod func(*perfRun)) perfRun {
		r := ok
		r.Variant, r.OfferedQPS = variant, rate
		if mod != nil {
			mod(&r)
		}
		return r
	}
	tests := []struct {
		name string
		runs []perfRun
		ok   bool
	}{
		{"both variants", []perfRun{run("xdpmux", 0, nil), run("kernel", 0, nil)}, true},
		{"no runs", nil, false},
		{"kernel missing", []perfRun{run("xdpmux", 20000, nil)}, false},
		{"unknown variant", []perfRun{run("bind", 0, nil), run("kernel", 0, nil)}, false},
		{"counts", []perfRun{run("xdpmux", 0, func(r *perfRun) { r.Lost = 1 }), run("kernel", 0, nil)}, false},
		{"all four", []perfRun{run("xdpmux", 0, nil), run("kernel", 0, nil), run("xdpmux-batch", 0, nil), run("kernel-batch", 0, nil)}, true},
		{"batch pair half", []perfRun{run("xdpmux", 0, nil), run("kernel", 0, nil), run("xdpmux-batch", 0, nil)}, false},
		{"batch pair alone", []perfRun{run("xdpmux-batch", 0, nil), run("kernel-batch", 0, nil)}, false},
		{"all five", []perfRun{run("xdpmux", 0, nil), run("kernel", 0, nil), run("xdpmux-batch", 0, nil), run("kernel-batch", 0, nil), run("xdpmux-handler", 0, nil)}, true},
		{"handler without kernel-batch", []perfRun{run("xdpmux", 0, nil), run("kernel", 0, nil), run("xdpmux-handler", 0, nil)}, false},
		{"percentiles", []perfRun{run("xdpmux", 0, func(r *perfRun) { r.P99Ms = 9 }), run("kernel", 0, nil)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := perfReport{Schema: perfSchema, Runs: tc.runs}
			err := rep.check()
			if (err == nil) != tc.ok {
				t.Errorf("check: %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, errBadPerf) {
				t.Errorf("err %v: not errBadPerf", err)
			}
		})
	}
}
