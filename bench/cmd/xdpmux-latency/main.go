// Command xdpmux-latency runs xdpmux's latency benchmark (package
// bench/latency): UDP echo round-trip times for xdpmux (native Endpoint
// API with Reply, and PacketConn) and the tuned kernel, in a throwaway
// veth lab, and writes the report:
//
//	xdpmux-latency                   # full run: bench/results/latency-<date>.json, latency-latest.json, latency-latest.png
//	xdpmux-latency -quick -o FILE    # CI smoke run (under 30 s)
//	xdpmux-latency -check FILE       # check a report's JSON shape (never speed)
//
// It needs root. See docs/BENCHMARKS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/bench/internal/flaglist"
	"github.com/xdpmux/xdpmux/bench/internal/output"
	"github.com/xdpmux/xdpmux/bench/latency"
)

func main() {
	latency.ServeChild() // a server child (re-executed by Measure) never returns
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "xdpmux-latency:", err)
		os.Exit(1)
	}
}

func run() error {
	var out output.Flags
	out.Register(flag.CommandLine, "latency-")
	var (
		quick    = flag.Bool("quick", false, "smoke run: short windows, one low fixed rate")
		check    = flag.String("check", "", "only check the shape of this JSON report and exit")
		rates    = flag.String("rates", "", "fixed request rates in pps, comma separated, k for thousands (default 10k,100k; quick 10k)")
		share    = flag.Float64("max-share", 0, "last fixed rate as a share of the lowest max rate (default 0.9)")
		payloads = flag.String("payloads", "", "UDP payload sizes, comma separated (default 64,100)")
		members  = flag.Int("members", 0, "server group members (default 2)")
		clients  = flag.Int("clients", 0, "client sockets (flows) (default 4)")
		outst    = flag.Int("outstanding", 0, "requests in flight per client at max (default 32)")
		warmup   = flag.Duration("warmup", 0, "warm-up before each window (default 1s; quick 200ms)")
		window   = flag.Duration("window", 0, "measured window per run (default 3s; quick 300ms)")
		noMax    = flag.Bool("no-max", false, "skip the max runs and the share-of-max rate: measure -rates only")
		skip     = flag.String("skip", "", "systems to skip, comma separated: xdpmux-endpoint,xdpmux-handler,xdpmux-packetconn,kernel-reuseport")
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
		r, err := latency.CheckJSON(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *check, err)
		}
		fmt.Printf("%s: well formed: %d runs\n", *check, len(r.Runs))
		return nil
	}
	var cfg latency.Config
	if *quick {
		cfg = latency.Quick()
	}
	var err error
	if *rates != "" {
		if cfg.Rates, err = flaglist.Floats(*rates); err != nil {
			return fmt.Errorf("-rates: %w", err)
		}
	}
	if *payloads != "" {
		ps, err := flaglist.Floats(*payloads)
		if err != nil {
			return fmt.Errorf("-payloads: %w", err)
		}
		for _, p := range ps {
			cfg.Payloads = append(cfg.Payloads, int(p))
		}
	}
	if *skip != "" {
		cfg.Skip = flaglist.Set(*skip)
	}
	if *share > 0 {
		cfg.MaxShare = *share
	}
	if *warmup > 0 {
		cfg.Warmup = *warmup
	}
	if *window > 0 {
		cfg.Window = *window
	}
	cfg.Members, cfg.Clients, cfg.Outstanding = *members, *clients, *outst
	cfg.NoMax = *noMax
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, XDP, AF_XDP)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	rep, err := latency.Measure(ctx, cfg)
	if rep == nil {
		return err
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "xdpmux-latency: incomplete:", err)
	}
	if cerr := rep.Check(); cerr != nil {
		return fmt.Errorf("report: %w", cerr)
	}
	if werr := out.Write(rep); werr != nil {
		return werr
	}
	rep.WriteTable(os.Stdout)
	fmt.Printf("done in %s\n", time.Since(t0).Round(time.Second))
	return err
}
