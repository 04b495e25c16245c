package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rss"
)

const replayUsage = `usage: xdpmux replay -pcap FILE [-queues N] [-policy threshold|modulo|maglev|quic]
                     [-quic-sid-len N] [-quic-cid-len N] [-key HEX]
                     [-rss-iface IF] [-indir Q,Q,...]
                     [-dual-stack-groups] [-leave NAME:AT:BACK] [-trace] [-json]
                     [-per-queue] [-slow NAME:EVERY[,...]] [-bounded-load FILL]
                     [-ring N] [-flow-table N] [-flow-idle PACKETS] BIND...
  ` + bindSyntax + `

Runs the dataplane's per-packet logic (parse, Toeplitz hash, simulated RSS
queue, per-queue table lookup, member pick) on a capture, without root.
`

// replayResult is the -json output (SPEC section 6).
type replayResult struct {
	Packets   uint64           `json:"packets"`
	Unmatched uint64           `json:"unmatched"`
	Malformed uint64           `json:"malformed"`
	Queues    []replayQueue    `json:"queues"`
	Endpoints []replayEndpoint `json:"endpoints"`
	Leave     *replayLeave     `json:"leave,omitempty"`
	Load      *replayLoad      `json:"load,omitempty"`
}

type replayQueue struct {
	Queue   int    `json:"queue"`
	Packets uint64 `json:"packets"`
	// With -per-queue or members that declare queues: the queue's
	// packets per endpoint, and how many went to a member declared for
	// this queue.
	Endpoints []replayEndpoint `json:"endpoints,omitempty"`
	Local     *uint64          `json:"local,omitempty"`
}

type replayEndpoint struct {
	Name    string `json:"name"`
	Packets uint64 `json:"packets"`
}

// parseInterleaved parses flags that may appear before, between or after
// the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pcapFile := fs.String("pcap", "", "capture file (pcap or pcapng)")
	queues := fs.Int("queues", 1, "number of simulated NIC queues")
	policyName := fs.String("policy", "threshold", "member pick policy: threshold, modulo, maglev or quic")
	defQUIC := localgroup.DefaultQUICConfig()
	sidLen := fs.Int("quic-sid-len", defQUIC.LB.ServerIDLen, "quic policy: server ID length in octets")
	cidLen := fs.Int("quic-cid-len", defQUIC.LB.CIDLen, "quic policy: connection ID length in octets")
	keyHex := fs.String("key", "", "Toeplitz key in hex (default: Microsoft's 40-byte key)")
	trace := fs.Bool("trace", false, "print one line per packet: INDEX HASH QUEUE ENDPOINT")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object")
	dualGroups := fs.Bool("dual-stack-groups", false, "group reuseport IPv6 dual-stack wildcards (Linux), instead of the seed's rule")
	leave := fs.String("leave", "", "NAME:AT:BACK: endpoint NAME leaves before packet AT and binds again before BACK")
	// Queue-local members and the delivery ring simulation (replay_load.go).
	perQueue := fs.Bool("per-queue", false, "show each queue's packets per endpoint (on when a BIND declares queues)")
	slow := fs.String("slow", "", "NAME:EVERY[,...]: simulate rings; endpoint NAME reads one frame every EVERY packets (others: one per packet)")
	boundedFill := fs.Float64("bounded-load", 0, "simulate rings with bounded loads: fill in (0,1] above which a member gets no new flows (0: off)")
	ringSize := fs.Int("ring", dataplane.DefaultRingSize, "simulated ring size per (queue, endpoint)")
	flowTable := fs.Int("flow-table", dataplane.DefaultFlowTableSize, "bounded load: flows remembered per queue")
	flowIdle := fs.Int64("flow-idle", 0, "bounded load: packets after which an idle flow is forgotten (0: never)")
	rssIface := fs.String("rss-iface", "", "take the Toeplitz key and the indirection table from interface IF's RSS (ethtool)")
	indir := fs.String("indir", "", "simulate this indirection table: queues, comma-separated (a power-of-two count)")
	out := bufio.NewWriter(stdout)
	fail := func(err error) int {
		out.Flush() // trace lines for the packets before the error come first
		fmt.Fprintf(stderr, "xdpmux replay: %v\n", err)
		return 2
	}
	binds, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, replayUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err != nil {
		return fail(err)
	}
	quic := defQUIC
	quic.LB.ServerIDLen, quic.LB.CIDLen = *sidLen, *cidLen
	table, nicKey, err := replayRSS(*rssIface, *indir)
	if err != nil {
		return fail(err)
	}
	if nicKey != nil && *keyHex == "" {
		*keyHex = hex.EncodeToString(nicKey)
	}
	queuesSet := false
	fs.Visit(func(f *flag.Flag) { queuesSet = queuesSet || f.Name == "queues" })
	if table != nil && !queuesSet {
		*queues = indirQueues(table)
	}
	r, err := newReplay(*pcapFile, *queues, *policyName, quic, *dualGroups, *keyHex, binds)
	if err != nil {
		return fail(err)
	}
	if table != nil {
		if r.rss, err = rss.NewRSSTable(table, *queues); err != nil {
			r.capture.Close()
			return fail(fmt.Errorf("-indir: %w", err))
		}
	}
	if *leave != "" {
		plan, err := parseLeave(*leave)
		if err != nil {
			r.capture.Close()
			return fail(err)
		}
		r.leave = &leaveState{plan: *plan, first: map[pcb.Flow]string{}, seen: map[pcb.Flow]uint8{}}
	}
	defer r.capture.Close()
	r.showQueues = r.showQueues || *perQueue
	if *slow != "" || *boundedFill != 0 {
		slowMap, err := parseSlow(*slow)
		if err != nil {
			return fail(err)
		}
		if r.sim, err = newLoadSim(*queues, *boundedFill, *ringSize, *flowTable, *flowIdle, slowMap); err != nil {
			return fail(err)
		}
	}
	if err := r.run(out, *trace); err != nil {
		return fail(err)
	}
	switch {
	case *asJSON:
		if err := json.NewEncoder(out).Encode(r.result()); err != nil {
			return fail(err)
		}
	case !*trace:
		r.printTable(out)
	}
	if err := out.Flush(); err != nil {
		return fail(err)
	}
	return 0
}

// replay holds one run's state: the authority table, one table copy per
// simulated queue (as each worker has its own), and the counters.
type replay struct {
	capture  *capture
	tz       *rss.Toeplitz
	rss      *rss.RSS
	auth     *pcb.Table // the control plane's copy
	tables   []*pcb.Table
	leave    *leaveState // -leave, or nil
	names    []string    // by EndpointID; names[0] unused
	counts   []uint64    // by EndpointID; counts[0] unused
	perQueue []uint64
	// byQueue[q][id] counts queue q's packets per endpoint; showQueues
	// puts them in the summary (-per-queue, or a BIND declares queues).
	byQueue    [][]uint64
	showQueues bool
	declared   map[string]uint32 // endpoint name -> the queue it declared
	sim        *loadSim          // -slow or -bounded-load, or nil
	packets    uint64
	unmatch    uint64
	bad        [packet.NumReasons]uint64
}

func newReplay(pcapFile string, queues int, policyName string, quic localgroup.QUICConfig, dualGroups bool, keyHex string, bindArgs []string) (*replay, error) {
	if pcapFile == "" {
		return nil, errors.New("missing -pcap FILE")
	}
	if queues < 1 {
		return nil, fmt.Errorf("-queues %d: want at least 1", queues)
	}
	policy, err := localgroup.ParsePolicy(policyName)
	if err != nil {
		return nil, fmt.Errorf("-policy %q: %w", policyName, err)
	}
	if err := quic.Validate(); err != nil {
		return nil, fmt.Errorf("-quic-sid-len %d -quic-cid-len %d: %w", quic.LB.ServerIDLen, quic.LB.CIDLen, err)
	}
	key := rss.DefaultKey[:]
	if keyHex != "" {
		if key, err = hex.DecodeString(strings.ReplaceAll(keyHex, ":", "")); err != nil {
			return nil, fmt.Errorf("-key %q: not hex", keyHex)
		}
	}
	tz, err := rss.NewToeplitz(key)
	if err != nil {
		return nil, fmt.Errorf("-key %q: %w", keyHex, err)
	}
	steer, err := rss.NewRSS(queues)
	if err != nil {
		return nil, fmt.Errorf("-queues %d: %w", queues, err)
	}
	cfg := pcb.DefaultConfig()
	cfg.Queues = queues
	cfg.Policy = policy
	cfg.QUIC = quic
	cfg.DualStackGroups = dualGroups
	table, err := pcb.NewTable(cfg)
	if err != nil {
		return nil, err
	}
	r := &replay{tz: tz, rss: steer, names: []string{""}, perQueue: make([]uint64, queues), declared: map[string]uint32{}}
	// Members of BINDs with the same PROTO/ADDR:PORT are numbered on from
	// the earlier ones, so that every endpoint has a distinct name.
	nextIndex := map[string]int{}
	for _, arg := range bindArgs {
		b, err := parseBind(arg)
		if err != nil {
			return nil, err
		}
		r.showQueues = r.showQueues || b.declaresQueues()
		for _, spec := range b.specs("replay", nextIndex, queues) {
			id := pcb.EndpointID(len(r.names))
			if err := table.Bind(id, spec); err != nil {
				return nil, err // names the spec and, on a conflict, the binding in the way
			}
			r.names = append(r.names, spec.Name)
			if spec.HasQueue {
				r.declared[spec.Name] = spec.Queue
			}
		}
	}
	r.auth = table
	r.counts = make([]uint64, len(r.names))
	r.tables = make([]*pcb.Table, queues)
	r.byQueue = make([][]uint64, queues)
	for q := range r.tables {
		r.tables[q] = table.Clone()
		r.tables[q].SetHome(uint32(q)) // as each worker's copy
	}
	if r.capture, err = openCapture(pcapFile); err != nil {
		return nil, err
	}
	return r, nil
}

// run classifies every frame of the capture with dataplane.Classify, the
// function the queue workers run, against the frame's queue's table copy.
func (r *replay) run(trace io.Writer, printTrace bool) error {
	var t packet.Tuple
	var line []byte
	for index := 0; ; index++ {
		frame, err := r.capture.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if r.leave != nil {
			if err := r.leaveStep(index); err != nil {
				return err
			}
		}
		// On a NIC the queue is known before the worker looks; here the
		// simulated RSS picks it from the hash, then that queue's copy of
		// the tables resolves the endpoint, as its worker would.
		if r.sim != nil {
			r.sim.tick(r, index)
		}
		hash, reason := dataplane.ParseAndHash(r.tz, frame, &t)
		q := r.rss.Queue(hash)
		id := pcb.EndpointID(0)
		if reason == packet.OK {
			id = dataplane.LookupFrame(r.tables[q], frame, &t, hash)
		}
		if r.sim != nil && id != 0 {
			id = r.sim.deliver(r, q, id, &t.Flow, hash, index)
		}
		r.packets++
		r.perQueue[q]++
		name := "-"
		switch {
		case reason != packet.OK:
			r.bad[reason]++
		case id == 0:
			r.unmatch++
		default:
			r.counts[id]++
			for len(r.byQueue[q]) < len(r.names) {
				r.byQueue[q] = append(r.byQueue[q], 0)
			}
			r.byQueue[q][id]++
			name = r.names[id]
		}
		if r.leave != nil && reason == packet.OK {
			r.leaveCount(index, &t.Flow, name)
		}
		if printTrace {
			line = fmt.Appendf(line[:0], "%d %08x %d %s\n", index, hash, q, name)
			if _, err := trace.Write(line); err != nil {
				return err
			}
		}
	}
}

func (r *replay) result() replayResult {
	res := replayResult{Packets: r.packets, Unmatched: r.unmatch,
		Queues: make([]replayQueue, len(r.perQueue)), Endpoints: make([]replayEndpoint, 0, len(r.names)-1)}
	for _, n := range r.bad {
		res.Malformed += n
	}
	for q, n := range r.perQueue {
		res.Queues[q] = replayQueue{Queue: q, Packets: n}
		if r.showQueues {
			res.Queues[q].Endpoints, res.Queues[q].Local = r.queueShares(q)
		}
	}
	row := map[string]int{} // an endpoint that rejoined has one row
	for id := 1; id < len(r.names); id++ {
		if i, ok := row[r.names[id]]; ok {
			res.Endpoints[i].Packets += r.counts[id]
			continue
		}
		row[r.names[id]] = len(res.Endpoints)
		res.Endpoints = append(res.Endpoints, replayEndpoint{Name: r.names[id], Packets: r.counts[id]})
	}
	res.Leave = r.leaveReport()
	if r.sim != nil {
		res.Load = r.sim.report(r)
	}
	return res
}

// queueShares returns queue q's packets per endpoint name (an endpoint
// that rejoined has one row; endpoints without packets of q are left
// out) and how many went to an endpoint declared for q.
func (r *replay) queueShares(q int) ([]replayEndpoint, *uint64) {
	out := []replayEndpoint{}
	row := map[string]int{}
	var local uint64
	for id, n := range r.byQueue[q] {
		if n == 0 {
			continue
		}
		name := r.names[id]
		if dq, ok := r.declared[name]; ok && dq == uint32(q) {
			local += n
		}
		if i, ok := row[name]; ok {
			out[i].Packets += n
			continue
		}
		row[name] = len(out)
		out = append(out, replayEndpoint{Name: name, Packets: n})
	}
	return out, &local
}

// printTable is the default, human-readable summary.
func (r *replay) printTable(w io.Writer) {
	res := r.result()
	pct := func(n uint64) string {
		if res.Packets == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(res.Packets))
	}
	fmt.Fprintf(w, "packets %d, unmatched %d, malformed %d\n", res.Packets, res.Unmatched, res.Malformed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nQUEUE\tPACKETS\tSHARE")
	for _, q := range res.Queues {
		fmt.Fprintf(tw, "%d\t%d\t%s\n", q.Queue, q.Packets, pct(q.Packets))
	}
	fmt.Fprintln(tw, "\nENDPOINT\tPACKETS\tSHARE")
	for _, e := range res.Endpoints {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", e.Name, e.Packets, pct(e.Packets))
	}
	if r.showQueues {
		fmt.Fprintln(tw, "\nQUEUE\tENDPOINT\tPACKETS\tSHARE OF QUEUE")
		for _, q := range res.Queues {
			for _, e := range q.Endpoints {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f%%\n", q.Queue, e.Name, e.Packets, 100*float64(e.Packets)/float64(q.Packets))
			}
			if q.Packets > 0 {
				fmt.Fprintf(tw, "%d\tto members of queue %d\t%d\t%.1f%%\n", q.Queue, q.Queue, *q.Local, 100*float64(*q.Local)/float64(q.Packets))
			}
		}
	}
	if res.Leave != nil {
		printLeave(tw, res.Leave)
	}
	if res.Load != nil {
		printLoad(tw, res.Load)
	}
	if res.Malformed > 0 {
		fmt.Fprintln(tw, "\nMALFORMED\tPACKETS\tSHARE")
		for reason, n := range r.bad {
			if n > 0 {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", packet.Reason(reason), n, pct(n))
			}
		}
	}
	tw.Flush()
}
