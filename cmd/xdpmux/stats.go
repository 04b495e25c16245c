package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/ctl"
)

const statsUsage = `usage: xdpmux stats [-ctl PATH] [-watch] [-json]

Prints the per-queue and per-endpoint counters of a running 'xdpmux run',
read through its control socket: as tables, or as the control socket's
JSON snapshot with -json. -watch refreshes every second (one JSON object
per line with -json) until interrupted.
`

func cmdStats(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return statsMain(ctx, args, stdout, stderr)
}

// statsMain is cmdStats' core; -watch runs until ctx is done.
func statsMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("ctl", ctl.DefaultPath, "control socket path")
	watch := fs.Bool("watch", false, "refresh every second")
	asJSON := fs.Bool("json", false, "print the JSON snapshot")
	interval := fs.Duration("interval", time.Second, "refresh interval with -watch")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, statsUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err == nil && *interval <= 0 {
		err = fmt.Errorf("-interval %v: want > 0", *interval)
	}
	if err != nil {
		fmt.Fprintf(stderr, "xdpmux stats: %v\n", err)
		return 2
	}
	out := bufio.NewWriter(stdout)
	var prev *ctl.StatsSnapshot
	for {
		snap, err := ctl.Stats(*path)
		if err != nil {
			fmt.Fprintf(stderr, "xdpmux stats: %v (is 'xdpmux run' running with -ctl %s?)\n", err, *path)
			return 1
		}
		switch {
		case *asJSON:
			if err := json.NewEncoder(out).Encode(snap); err != nil {
				fmt.Fprintf(stderr, "xdpmux stats: %v\n", err)
				return 1
			}
		default:
			if *watch {
				fmt.Fprint(out, "\x1b[H\x1b[2J") // home, clear screen
			}
			printStats(out, &snap, prev)
		}
		if err := out.Flush(); err != nil {
			fmt.Fprintf(stderr, "xdpmux stats: %v\n", err)
			return 1
		}
		if !*watch {
			return 0
		}
		prev = &snap
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(*interval):
		}
	}
}

// printStats writes the snapshot as tables; with prev, it adds rates.
func printStats(w io.Writer, s *ctl.StatsSnapshot, prev *ctl.StatsSnapshot) {
	var info runInfo
	if len(s.Info) > 0 {
		json.Unmarshal(s.Info, &info) // best effort: another server may send other info
	}
	in := info.Interface
	nclients := 0
	for _, c := range s.Clients {
		if c.Endpoint != "" {
			nclients++
		}
	}
	if in.Ifname != "" {
		fmt.Fprintf(w, "xdpmux on %s (ifindex %d), queues %v of %d, xdp %s, xsk %s, policy %s, %d control clients, %s\n",
			in.Ifname, in.Ifindex, in.Queues, in.RxQueues, in.XDPMode, in.SocketMode, s.Policy, nclients, s.Time.Local().Format(time.TimeOnly))
	} else {
		fmt.Fprintf(w, "xdpmux, policy %s, %d control clients, %s\n", s.Policy, nclients, s.Time.Local().Format(time.TimeOnly))
	}
	if s.Hash == "nic" || in.HashNote != "" {
		fmt.Fprintf(w, "hash %s (frames: %d nic, %d software)", s.Hash, s.Totals.HashNIC, s.Totals.HashSoftware)
		if in.HashNote != "" {
			fmt.Fprintf(w, ": %s", in.HashNote)
		}
		fmt.Fprintln(w)
	}
	if r := in.RSS; r != nil && r.Available && r.Note != "" {
		fmt.Fprintf(w, "rss %s, key default %v, table default %v: %s\n", r.HashFunc, r.KeyDefault, r.IndirDefault, r.Note)
	}
	var dt float64
	if prev != nil {
		dt = s.Time.Sub(prev.Time).Seconds()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\nQUEUE\tRX\tRX/S\tDELIVERED\tUNMATCHED\tMALFORMED\tRING_FULL\tCLOSED_DROP\tRESTEERED\tFILL_EMPTY\t")
	if len(info.XDP) > 0 {
		fmt.Fprint(tw, "IFQ\tXDP_REDIR\tXDP_PASS\tXSK_DROP\tXSK_RING_FULL\t")
	}
	fmt.Fprintln(tw)
	row := func(name string, q *ctl.QueueStats, pq *ctl.QueueStats, x int) {
		rate := "-"
		if pq != nil && dt > 0 {
			rate = fmt.Sprintf("%.0f", float64(q.RX-pq.RX)/dt)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t", name, q.RX, rate, q.Delivered, q.Unmatched,
			q.MalformedTotal(), q.RingFull, q.ClosedDropped, q.Resteered, q.FillEmpty)
		if len(info.XDP) > 0 {
			if x >= 0 && x < len(info.XDP) {
				xs := info.XDP[x]
				fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t", xs.IfQueue, xs.Program.Redirected, xs.Program.Passed,
					xs.Socket.RxDropped, xs.Socket.RxRingFull)
			} else {
				fmt.Fprint(tw, "\t\t\t\t\t")
			}
		}
		fmt.Fprintln(tw)
	}
	for i := range s.Queues {
		var pq *ctl.QueueStats
		if prev != nil && i < len(prev.Queues) {
			pq = &prev.Queues[i]
		}
		row(fmt.Sprint(s.Queues[i].Queue), &s.Queues[i], pq, i)
	}
	var pt *ctl.QueueStats
	if prev != nil {
		pt = &prev.Totals
	}
	row("total", &s.Totals, pt, -1)
	tw.Flush()

	if len(s.Totals.Malformed) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nMALFORMED\tFRAMES")
		reasons := make([]string, 0, len(s.Totals.Malformed))
		for r := range s.Totals.Malformed {
			reasons = append(reasons, r)
		}
		slices.Sort(reasons)
		for _, r := range reasons {
			fmt.Fprintf(tw, "%s\t%d\n", r, s.Totals.Malformed[r])
		}
		tw.Flush()
	}

	// Endpoints, with the control client (or sink) behind each.
	owner := map[string]string{}
	for _, c := range s.Clients {
		if c.Endpoint != "" {
			owner[c.Endpoint] = fmt.Sprintf("pid %d uid %d", c.PID, c.UID)
			if c.Dropped > 0 {
				// Frames the pump gave up on: the client's socket stayed full.
				owner[c.Endpoint] += fmt.Sprintf(", %d not taken", c.Dropped)
			}
		}
	}
	for _, sk := range info.Sinks {
		owner[sk.Name] = fmt.Sprintf("sink, %d bytes", sk.Bytes)
	}
	prevDelivered := map[string]uint64{}
	if prev != nil {
		for _, e := range prev.Endpoints {
			prevDelivered[e.Name] = e.Delivered
		}
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nENDPOINT\tDELIVERED\tDELIVERED/S\tDROPPED\tOVER_BUDGET\tQUEUED\tBY")
	for _, e := range s.Endpoints {
		rate := "-"
		if p, ok := prevDelivered[e.Name]; ok && dt > 0 {
			rate = fmt.Sprintf("%.0f", float64(e.Delivered-p)/dt)
		}
		by := owner[e.Name]
		if by == "" {
			by = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\n", e.Name, e.Delivered, rate, e.Dropped, e.OverBudget, e.Queued, by)
	}
	if len(s.Endpoints) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	tw.Flush()
	if info.XDPError != "" {
		fmt.Fprintf(w, "\nXDP counters: %s\n", strings.TrimSpace(info.XDPError))
	}
}
