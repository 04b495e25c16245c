package main

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// perfReport is what TestDNSPerf writes (scripts/dnsperf.sh,
// bench/results/dnsperf-*.json, docs/BENCHMARKS.md): one perfRun per
// variant and offered rate, all measured in one run.
type perfReport struct {
	Schema  int       `json:"schema"`
	Date    string    `json:"date"`
	Quick   bool      `json:"quick"`
	Queues  int       `json:"queues"`
	Members int       `json:"members"`
	RcvBuf  int       `json:"kernel_rcvbuf"`
	Args    []string  `json:"dnsperf_args"`
	Runs    []perfRun `json:"runs"`
}

// perfSchema is perfReport's version: 2 added the -batch variants, 3 the
// -handler one.
const perfSchema = 3

// perfVariants are the known variants, each a bit of a rate's mask in
// check: the dns.Server pair, then the -batch pair, then -handler (alone:
// the kernel has no run to completion; kernel-batch is its counterpart).
var perfVariants = map[string]int{"xdpmux": 1, "kernel": 2, "xdpmux-batch": 4, "kernel-batch": 8, "xdpmux-handler": 16}

// perfRun is one dnsperf run: Variant one of perfVariants, OfferedQPS
// (0: max, no -Q), dnsperf's summary counts and latencies in ms (p50..p999
// from its -v per-query lines).
type perfRun struct {
	Variant    string  `json:"variant"`
	OfferedQPS int     `json:"offered_qps"`
	Sent       uint64  `json:"sent"`
	Completed  uint64  `json:"completed"`
	Lost       uint64  `json:"lost"`
	QPS        float64 `json:"qps"`
	MeanMs     float64 `json:"mean_ms"`
	P50Ms      float64 `json:"p50_ms"`
	P90Ms      float64 `json:"p90_ms"`
	P99Ms      float64 `json:"p99_ms"`
	P999Ms     float64 `json:"p999_ms"`
	MaxMs      float64 `json:"max_ms"`
}

var errBadPerf = errors.New("dnsperf report")

var perfCount = regexp.MustCompile(`(?m)^\s*(Queries sent|Queries completed|Queries lost|Queries per second|Average Latency \(s\)):\s*([0-9.]+)`)

// parseDNSPerf reads dnsperf's summary and, with -v, its per-query lines
// ("> NOERROR name type latency") into a perfRun.
func parseDNSPerf(out []byte) (perfRun, error) {
	var r perfRun
	seen := 0
	for _, m := range perfCount.FindAllSubmatch(out, -1) {
		v, err := strconv.ParseFloat(string(m[2]), 64)
		if err != nil {
			return r, fmt.Errorf("%w: %s: %w", errBadPerf, m[1], err)
		}
		switch string(m[1]) {
		case "Queries sent":
			r.Sent = uint64(v)
		case "Queries completed":
			r.Completed = uint64(v)
		case "Queries lost":
			r.Lost = uint64(v)
		case "Queries per second":
			r.QPS = v
		default:
			r.MeanMs = v * 1e3
		}
		seen++
	}
	if seen != 5 {
		return r, fmt.Errorf("%w: %d of 5 summary lines in dnsperf's output", errBadPerf, seen)
	}
	var lat []float64
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] != ">" || f[1] == "T" {
			continue
		}
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			lat = append(lat, v*1e3)
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		p := func(q float64) float64 { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
		r.P50Ms, r.P90Ms, r.P99Ms, r.P999Ms, r.MaxMs = p(0.5), p(0.9), p(0.99), p(0.999), lat[len(lat)-1]
	}
	return r, nil
}

// check verifies the report's shape, never speed: known variants, both
// variants at each offered rate, completed + lost = sent, finite
// non-negative figures, ordered percentiles.
func (rep *perfReport) check() error {
	if rep.Schema != perfSchema {
		return fmt.Errorf("%w: schema %d, want %d", errBadPerf, rep.Schema, perfSchema)
	}
	if len(rep.Runs) == 0 {
		return fmt.Errorf("%w: no runs", errBadPerf)
	}
	rates := map[int]int{}
	for i, r := range rep.Runs {
		where := fmt.Sprintf("runs[%d] (%s, %d qps)", i, r.Variant, r.OfferedQPS)
		bit, ok := perfVariants[r.Variant]
		if !ok {
			return fmt.Errorf("%w: %s: unknown variant", errBadPerf, where)
		}
		rates[r.OfferedQPS] |= bit
		if r.OfferedQPS < 0 || r.Completed+r.Lost != r.Sent {
			return fmt.Errorf("%w: %s: offered %d, completed %d + lost %d != sent %d", errBadPerf, where, r.OfferedQPS, r.Completed, r.Lost, r.Sent)
		}
		for _, v := range []float64{r.QPS, r.MeanMs, r.P50Ms, r.P90Ms, r.P99Ms, r.P999Ms, r.MaxMs} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return fmt.Errorf("%w: %s: figure %v: want finite and >= 0", errBadPerf, where, v)
			}
		}
		if !(r.P50Ms <= r.P90Ms && r.P90Ms <= r.P99Ms && r.P99Ms <= r.P999Ms && r.P999Ms <= r.MaxMs) {
			return fmt.Errorf("%w: %s: percentiles out of order", errBadPerf, where)
		}
	}
	for rate, v := range rates {
		// The dns.Server pair always, the -batch pair whole or not at
		// all, -handler only beside kernel-batch.
		if v&3 != 3 || v&12 != 0 && v&12 != 12 || v&16 != 0 && v&8 == 0 {
			return fmt.Errorf("%w: offered %d qps: not both variants of each pair", errBadPerf, rate)
		}
	}
	return nil
}
