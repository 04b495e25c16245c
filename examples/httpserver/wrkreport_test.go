package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// wrkRun is what one wrk run reports (wrk --latency).
type wrkRun struct {
	Variant string `json:"variant"`
	// Kind is "requests" (GET /, many connections) or "bulk" (GET
	// /bulk, one connection).
	Kind        string  `json:"kind"`
	Conns       int     `json:"conns"`
	DurationS   float64 `json:"duration_s"`
	Requests    uint64  `json:"requests"`
	RequestsPS  float64 `json:"requests_per_s"`
	BytesRead   float64 `json:"bytes_read"`
	MBPerS      float64 `json:"mb_per_s"` // 10^6 bytes per second read by wrk
	LatAvgMs    float64 `json:"latency_avg_ms"`
	LatP50Ms    float64 `json:"latency_p50_ms"`
	LatP75Ms    float64 `json:"latency_p75_ms"`
	LatP90Ms    float64 `json:"latency_p90_ms"`
	LatP99Ms    float64 `json:"latency_p99_ms"`
	LatMaxMs    float64 `json:"latency_max_ms"`
	SocketErrs  uint64  `json:"socket_errors"`
	Non2xx      uint64  `json:"non_2xx"`
	BusyShare   float64 `json:"busy_share"`                // of all CPUs, /proc/stat, during the run
	CPUUsPerReq float64 `json:"cpu_us_per_request"`        // machine-wide busy CPU time per request
	CPUNsPerB   float64 `json:"cpu_ns_per_byte,omitempty"` // bulk: busy CPU time per byte read
}

// wrkReport is the JSON TestWrk writes (scripts/netstack.sh).
type wrkReport struct {
	Schema  int      `json:"schema"`
	Date    string   `json:"date"`
	Quick   bool     `json:"quick"`
	CPUs    int      `json:"cpus"`
	Members int      `json:"members"` // xdpmux stacks and kernel listeners
	Queues  int      `json:"queues"`  // of the lab (gvisor-xdp: 1)
	Args    []string `json:"wrk_args"`
	// BulkBytes is the body a bulk run fetches (GET /bulk?n=BulkBytes).
	BulkBytes int      `json:"bulk_bytes,omitempty"`
	Runs      []wrkRun `json:"runs"`
}

const wrkSchema = 1

// wrkVariants are the variants of the comparison, in order.
var wrkVariants = []string{"xdpmux", "gvisor-fdbased", "gvisor-xdp", "kernel"}

var errWrkOutput = errors.New("wrk output")

// parseWrk reads wrk's --latency report.
func parseWrk(out string) (wrkRun, error) {
	var r wrkRun
	var seen int
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) >= 4 && f[0] == "Latency" && !strings.HasSuffix(f[1], "%"):
			var err1, err2 error
			r.LatAvgMs, err1 = parseDur(f[1])
			r.LatMaxMs, err2 = parseDur(f[3])
			if err := errors.Join(err1, err2); err != nil {
				return r, fmt.Errorf("%w: line %d %q: %w", errWrkOutput, i+1, line, err)
			}
			seen |= 1
		case len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseDur(f[1])
			if err != nil {
				return r, fmt.Errorf("%w: line %d %q: %w", errWrkOutput, i+1, line, err)
			}
			switch f[0] {
			case "50%":
				r.LatP50Ms, seen = d, seen|2
			case "75%":
				r.LatP75Ms = d
			case "90%":
				r.LatP90Ms = d
			case "99%":
				r.LatP99Ms = d
			}
		case len(f) >= 6 && f[1] == "requests" && f[2] == "in":
			n, err1 := strconv.ParseUint(f[0], 10, 64)
			d, err2 := parseDur(strings.TrimSuffix(f[3], ","))
			b, err3 := parseBytes(f[4])
			if err := errors.Join(err1, err2, err3); err != nil {
				return r, fmt.Errorf("%w: line %d %q: %w", errWrkOutput, i+1, line, err)
			}
			r.Requests, r.DurationS, r.BytesRead, seen = n, d/1e3, b, seen|4
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for j := 3; j < len(f); j += 2 {
				n, err := strconv.ParseUint(strings.TrimSuffix(f[j], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("%w: line %d %q: %w", errWrkOutput, i+1, line, err)
				}
				r.SocketErrs += n
			}
		case len(f) >= 5 && f[0] == "Non-2xx":
			n, err := strconv.ParseUint(f[len(f)-1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("%w: line %d %q: %w", errWrkOutput, i+1, line, err)
			}
			r.Non2xx = n
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("%w: line %d %q: %w", errWrkOutput, i+1, line, err)
			}
			r.RequestsPS, seen = v, seen|8
		}
	}
	if seen != 15 {
		return r, fmt.Errorf("%w: no latency, distribution, totals or requests/sec line (%b)", errWrkOutput, seen)
	}
	if r.DurationS > 0 {
		r.MBPerS = r.BytesRead / r.DurationS / 1e6
	}
	return r, nil
}

// parseDur parses wrk's durations (12.00us, 1.02ms, 8.00s, 1.00m, 1.00h)
// into milliseconds.
func parseDur(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		ms     float64 // per unit; negative: units per ms
	}{{"us", -1e3}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x < 0 {
				return 0, fmt.Errorf("duration %q", s)
			}
			if u.ms < 0 {
				return x / -u.ms, nil
			}
			return x * u.ms, nil
		}
	}
	return 0, fmt.Errorf("duration %q: no unit", s)
}

// parseBytes parses wrk's byte counts (512.00B, 1.50KB, 60.00MB, 1.20GB;
// binary multiples).
func parseBytes(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		mul    float64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x < 0 {
				return 0, fmt.Errorf("bytes %q", s)
			}
			return x * u.mul, nil
		}
	}
	return 0, fmt.Errorf("bytes %q: no unit", s)
}

// check verifies the report's shape: every variant has a requests run per
// connection count and a bulk run, each with requests served and its
// figures filled in. It never judges speed.
func (r *wrkReport) check(conns []int) error {
	if r.Schema != wrkSchema || r.CPUs < 1 || r.Members < 1 || len(r.Args) == 0 {
		return fmt.Errorf("report header: schema %d, %d CPUs, %d members, args %v", r.Schema, r.CPUs, r.Members, r.Args)
	}
	if want := len(wrkVariants) * (len(conns) + 1); len(r.Runs) != want {
		return fmt.Errorf("%d runs, want %d (%d variants × (%d connection counts + bulk))",
			len(r.Runs), want, len(wrkVariants), len(conns))
	}
	have := map[string]bool{}
	for _, run := range r.Runs {
		key := fmt.Sprintf("%s/%s/%d", run.Variant, run.Kind, run.Conns)
		switch {
		case have[key]:
			return fmt.Errorf("run %s twice", key)
		case run.Requests == 0 || run.RequestsPS <= 0 || run.BytesRead <= 0 || run.MBPerS <= 0:
			return fmt.Errorf("run %s: nothing served: %+v", key, run)
		case run.LatP50Ms <= 0 || run.LatP99Ms < run.LatP50Ms || run.LatMaxMs < run.LatP99Ms:
			return fmt.Errorf("run %s: latency percentiles out of order: %+v", key, run)
		case run.BusyShare <= 0 || run.BusyShare > 1 || run.CPUUsPerReq <= 0:
			return fmt.Errorf("run %s: CPU figures: %+v", key, run)
		}
		have[key] = true
	}
	for _, v := range wrkVariants {
		for _, c := range conns {
			if k := fmt.Sprintf("%s/requests/%d", v, c); !have[k] {
				return fmt.Errorf("no run %s", k)
			}
		}
		if k := v + "/bulk/1"; !have[k] {
			return fmt.Errorf("no run %s", k)
		}
	}
	return nil
}

const wrkSample = `Running 8s test @ http://198.18.7.2:80/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  512.00us  12.34ms   80.00%
    Req/Sec    30.00k     2.00k   35.00k    70.00%
  Latency Distribution
     50%  950.00us
     75%    1.20ms
     90%    1.60ms
     99%    3.00ms
  480000 requests in 8.00s, 60.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 5
Requests/sec:  60000.00
Transfer/sec:      7.50MB
`

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    wrkRun
		wantErr bool
	}{
		{"sample", wrkSample, wrkRun{Requests: 480000, RequestsPS: 60000, DurationS: 8, BytesRead: 60 << 20,
			MBPerS: 60 << 20 / 8 / 1e6, LatAvgMs: 1.02, LatMaxMs: 12.34, LatP50Ms: 0.95, LatP75Ms: 1.2,
			LatP90Ms: 1.6, LatP99Ms: 3, SocketErrs: 3, Non2xx: 5}, false},
		{"no requests/sec", strings.Replace(wrkSample, "Requests/sec:  60000.00\n", "", 1), wrkRun{}, true},
		{"bad unit", strings.Replace(wrkSample, "3.00ms", "3.00qs", 1), wrkRun{}, true},
		{"empty", "", wrkRun{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWrk(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestWrkReportCheck(t *testing.T) {
	conns := []int{64}
	good := func() *wrkReport {
		r := &wrkReport{Schema: wrkSchema, CPUs: 2, Members: 4, Args: []string{"-t2"}}
		run, err := parseWrk(wrkSample)
		if err != nil {
			t.Fatal(err)
		}
		run.BusyShare, run.CPUUsPerReq = 0.9, 30
		for _, v := range wrkVariants {
			run.Variant = v
			run.Kind, run.Conns = "requests", 64
			r.Runs = append(r.Runs, run)
			run.Kind, run.Conns = "bulk", 1
			r.Runs = append(r.Runs, run)
		}
		return r
	}
	if err := good().check(conns); err != nil {
		t.Fatalf("good report: %v", err)
	}
	for _, tc := range []struct {
		name   string
		break_ func(*wrkReport)
	}{
		{"missing run", func(r *wrkReport) { r.Runs = r.Runs[1:] }},
		{"duplicate", func(r *wrkReport) { r.Runs[1] = r.Runs[0] }},
		{"nothing served", func(r *wrkReport) { r.Runs[2].Requests = 0 }},
		{"no CPU", func(r *wrkReport) { r.Runs[3].BusyShare = 0 }},
		{"percentiles", func(r *wrkReport) { r.Runs[0].LatP99Ms = r.Runs[0].LatP50Ms / 2 }},
		{"schema", func(r *wrkReport) { r.Schema = 0 }},
	} {
		r := good()
		tc.break_(r)
		if err := r.check(conns); err == nil {
			t.Errorf("%s: check passed, want an error", tc.name)
		}
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkSample)
	f.Add(strings.ReplaceAll(wrkSample, "ms", "s"))
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseWrk(s)
		if err == nil && (r.RequestsPS < 0 || r.LatP50Ms < 0 || r.BytesRead < 0) {
			t.Errorf("negative figures from %q: %+v", s, r)
		}
	})
}
