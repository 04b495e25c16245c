// Command xdpmux-bench runs xdpmux's end-to-end receive benchmark (package
// bench/lab) in a throwaway veth lab and writes the report:
//
//	xdpmux-bench                     # full run: bench/results/<date>.json, latest.json, latest.png
//	xdpmux-bench -quick -o FILE      # CI smoke run (well under 2 minutes)
//	xdpmux-bench -check FILE         # check a report's JSON shape (never speed)
//	xdpmux-bench -table FILE [-latency FILE]  # print the comparison table of a report
//
// A run ends by printing the comparison table, with the p50/p99 columns
// from the latency report (bench/cmd/xdpmux-latency) when there is one.
//
// It needs root. See docs/BENCHMARKS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/bench/internal/flaglist"
	"github.com/xdpmux/xdpmux/bench/internal/output"
	"github.com/xdpmux/xdpmux/bench/lab"
	"github.com/xdpmux/xdpmux/bench/latency"
	"github.com/xdpmux/xdpmux/localgroup"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "xdpmux-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var out output.Flags
	out.Register(flag.CommandLine, "")
	var (
		quick    = flag.Bool("quick", false, "smoke run: short windows, small disruption test")
		check    = flag.String("check", "", "only check the shape of this JSON report and exit")
		sockets  = flag.String("sockets", "", "group sizes, comma separated (default 1,2,4,8)")
		warmup   = flag.Duration("warmup", 0, "generator warm-up before each window (default 1s; quick 300ms)")
		window   = flag.Duration("window", 0, "measured window per run (default 3s; quick 700ms)")
		rate     = flag.Float64("rate", -1, "fixed offered load in pps, measured next to saturation (0: none; default 150000, quick 0)")
		gen      = flag.String("gen", "auto", "generator: auto (trafgen if installed), trafgen or txgen")
		genCPUs  = flag.Int("gen-cpus", 0, "trafgen --cpus (default: all CPUs)")
		backend  = flag.String("txgen-backend", "auto", "txgen backend: auto, afxdp or afpacket")
		flows    = flag.Int("flows", 0, "generator flows (source ports; default 4096, quick 1024)")
		size     = flag.Int("size", 0, "frame size in bytes without FCS (default 64)")
		ring     = flag.Int("ring", 0, "xdpmux endpoint ring size (default lab.DefaultRingSize)")
		frames   = flag.Int("frames", 0, "UMEM frames per queue (default 16384, quick 4096)")
		rcvbuf   = flag.Int("rcvbuf", 0, "SO_RCVBUF of the tuned kernel sockets (default: net.core.rmem_max; the untuned row keeps the system default)")
		busyPoll = flag.Int("busy-poll", 0, "SO_BUSY_POLL in µs of the kernel-busypoll row (default 50)")
		table    = flag.String("table", "", "only print the comparison table of this JSON report and exit")
		noTable  = flag.Bool("no-table", false, "do not print the comparison table after a run")
		latFile  = flag.String("latency", "", "latency report for the table's p50/p99 (default: latency-latest.json in -dir, if any)")
		latRate  = flag.Float64("latency-rate", 100000, "fixed rate of the latency runs shown in the table")
		latSize  = flag.Int("latency-payload", 64, "payload size of the latency runs shown in the table")
		dflows   = flag.Int("disruption-flows", 0, "flows in the disruption test (default 2048, quick 512)")
		dmembers = flag.String("disruption-members", "", "group sizes of the disruption test (default 8)")
		policies = flag.String("policies", "", "xdpmux policies of the disruption test (default threshold,modulo,maglev)")
		skip     = flag.String("skip", "", "systems to skip, comma separated: xdp-drop,afxdp-rxdrop,afxdp-c,xdpmux,xdpmux-handler,kernel-reuseport,kernel-busypoll,kernel-reuseport-untuned")
		handler  = flag.Bool("handler", false, "also measure xdpmux with run-to-completion members (dataplane.Handler) after each xdpmux group: system xdpmux-handler")
		profile  = flag.String("profile", "", "directory for CPU profiles (pprof) of the xdpmux, xdpmux-handler and kernel saturation windows")
		// Issue 17's experiments (lab.MeasureLocality), instead of the comparison.
		locality  = flag.String("locality", "", "run these experiments instead: queue-local, bounded-load or both (comma separated); writes locality-<date>.json")
		locSizes  = flag.String("locality-sizes", "", "group sizes of the queue-local runs (default 2,4; bounded load uses the largest)")
		slowSleep = flag.Duration("slow-sleep", 0, "bounded-load runs: the slow member's sleep after each batch (default 10ms)")
		blFill    = flag.Float64("fill", 0, "bounded-load runs: the fill of the run with bounded load (default 0.5)")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	if *check != "" {
		b, err := os.ReadFile(*check)
		if err != nil {
			return err
		}
		r, err := lab.CheckJSON(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *check, err)
		}
		fmt.Printf("%s: well formed: %d runs, %d disruption results\n", *check, len(r.Runs), len(r.Disruption))
		return nil
	}

	latPath := *latFile
	if latPath == "" {
		if p := filepath.Join(out.Dir, "latency-latest.json"); fileExists(p) {
			latPath = p
		}
	}
	printTable := func(rep *lab.Report) {
		lat, note := latencyFigures(latPath, *latSize, *latRate)
		rep.WriteComparison(os.Stdout, lat, note)
	}
	if *table != "" {
		b, err := os.ReadFile(*table)
		if err != nil {
			return err
		}
		r, err := lab.CheckJSON(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *table, err)
		}
		printTable(r)
		return nil
	}

	var cfg lab.Config
	if *quick {
		cfg = lab.Quick()
	} else {
		cfg.FixedRate = 150000
	}
	var err error
	if *sockets != "" {
		if cfg.Sockets, err = flaglist.Ints(*sockets); err != nil {
			return fmt.Errorf("-sockets: %w", err)
		}
	}
	if *dmembers != "" {
		if cfg.DisruptionMembers, err = flaglist.Ints(*dmembers); err != nil {
			return fmt.Errorf("-disruption-members: %w", err)
		}
	}
	if *policies != "" {
		for _, s := range strings.Split(*policies, ",") {
			p, err := localgroup.ParsePolicy(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("-policies: %w", err)
			}
			cfg.Policies = append(cfg.Policies, p)
		}
	}
	if *skip != "" {
		cfg.Skip = flaglist.Set(*skip)
	}
	if *warmup > 0 {
		cfg.Warmup = *warmup
	}
	if *window > 0 {
		cfg.Window = *window
	}
	if *rate >= 0 {
		cfg.FixedRate = *rate
	}
	cfg.Generator, cfg.GenCPUs, cfg.TxgenBackend = *gen, *genCPUs, *backend
	cfg.Handler = *handler
	for _, kv := range []struct {
		flag int
		dst  *int
	}{{*flows, &cfg.Flows}, {*size, &cfg.Size}, {*ring, &cfg.RingSize}, {*frames, &cfg.NumFrames},
		{*rcvbuf, &cfg.RcvBuf}, {*busyPoll, &cfg.BusyPollUs}, {*dflows, &cfg.DisruptionFlows}} {
		if kv.flag > 0 {
			*kv.dst = kv.flag
		}
	}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			return err
		}
		cfg.ProfileDir = *profile
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, XDP, AF_XDP)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	if *locality != "" {
		lc := lab.LocalityConfig{Config: cfg, SlowSleep: *slowSleep, Fill: *blFill, NoQueueLocal: true, NoBoundedLoad: true}
		for _, e := range strings.Split(*locality, ",") {
			switch strings.TrimSpace(e) {
			case "queue-local":
				lc.NoQueueLocal = false
			case "bounded-load":
				lc.NoBoundedLoad = false
			default:
				return fmt.Errorf("-locality %q: want queue-local, bounded-load or both", *locality)
			}
		}
		if *locSizes != "" {
			if lc.Sizes, err = flaglist.Ints(*locSizes); err != nil {
				return fmt.Errorf("-locality-sizes: %w", err)
			}
		}
		if *policies != "" {
			lc.Policy = cfg.Policies[0]
		}
		rep, err := lab.MeasureLocality(ctx, lc)
		if rep == nil {
			return err
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "xdpmux-bench: incomplete:", err)
		}
		if werr := output.Write(rep, out.File, out.Dir, "locality-", ""); werr != nil {
			return werr
		}
		rep.WriteTable(os.Stdout)
		fmt.Printf("done in %s\n", time.Since(t0).Round(time.Second))
		return err
	}
	rep, err := lab.Measure(ctx, cfg)
	if rep == nil {
		return err
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "xdpmux-bench: incomplete:", err)
	}
	if cerr := rep.Check(); cerr != nil {
		return fmt.Errorf("report: %w", cerr)
	}
	if werr := out.Write(rep); werr != nil {
		return werr
	}
	if !*noTable {
		printTable(rep)
	}
	fmt.Printf("done in %s\n", time.Since(t0).Round(time.Second))
	return err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// latencyFigures reads a latency report and picks, for the table, the
// runs of payload bytes at rate pps: xdpmux's Endpoint API (Reply) for the
// xdpmux rows, the tuned kernel for the kernel rows. No file: no figures.
func latencyFigures(path string, payload int, rate float64) (map[string]lab.Latency, string) {
	if path == "" {
		return nil, "p50/p99: no latency report (run scripts/latency.sh)."
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Sprintf("p50/p99: %v", err)
	}
	r, err := latency.CheckJSON(b)
	if err != nil {
		return nil, fmt.Sprintf("p50/p99: %s: %v", path, err)
	}
	out := map[string]lab.Latency{}
	for sys, lsys := range map[string]string{lab.SystemXDPMux: latency.SystemEndpoint, lab.SystemXDPMuxHandler: latency.SystemHandler, lab.SystemKernel: latency.SystemKernel} {
		if run := r.Find(lsys, payload, latency.LoadFixed, rate); run != nil {
			out[sys] = lab.Latency{Sockets: r.Setup.Members, P50Us: run.P50Us, P99Us: run.P99Us}
		}
	}
	note := fmt.Sprintf("p50/p99: %s (%s), %d B echo at %.0f pps, %d members; xdpmux through Receive+Reply",
		path, r.Date, payload, rate, r.Setup.Members)
	if pc := r.Find(latency.SystemPacketConn, payload, latency.LoadFixed, rate); pc != nil {
		note += fmt.Sprintf(" (through PacketConn: p50 %.1f µs, p99 %.1f µs)", pc.P50Us, pc.P99Us)
	}
	if len(out) == 0 {
		note += ": no runs at that payload and rate"
	}
	return out, note + "."
}
