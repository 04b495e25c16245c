package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xdpmux/xdpmux/bench/fairness"
	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/txgen"
	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

const demoUsage = `usage: xdpmux demo [-duration D] [-queues N] [-members K] [-rate PPS]
                   [-flows F] [-size B] [-policy threshold|modulo|maglev]
                   [-leave=false] [-slots=false] [-family 4|6|dual] [-json]

Builds a lab of two network namespaces joined by a veth pair with N queues
(198.18.0.0/15, IPv6 off, static neighbours), attaches xdpmux to the
receiving end (XDP program, one AF_XDP socket and worker per queue), binds
a SO_REUSEPORT group of K UDP endpoints on port 9000, each read by its own
goroutine, and sends UDP from F flows out of the other namespace (bench/txgen)
for D. With -leave (the default, K >= 2) member #1 unbinds a third of the
way through and binds again two thirds of the way through; the view shows
the share of flows (source ports) that moved to another member while it
was gone and after it came back, next to the ideal 1/K. With -slots (the
default) the members bind with stable slots 0..K-1, so the rejoining
member gets back exactly its flows: after the rejoin 0 flows have moved.
With -family 6 the lab also has IPv6 (2001:2::/48, static neighbours)
and the group and the flows are IPv6; with -family dual the members are
dual-stack [::]:9000 endpoints grouped as Linux does (run
-dual-stack-groups) and half the flows are IPv4, half IPv6 (frames of at
least 78 bytes: -size 64, the default, becomes 78 with IPv6).
It shows per-queue and per-member rates once a second, then waits
for the pipeline to drain, tears everything down (also on Ctrl-C or an
error) and prints a summary in which sent = received + dropped.
With -json it prints only one JSON object at the end:
{"sent":N,"received":N,"dropped":N,"jain":F,
 "endpoints":[{"name":S,"packets":N,"seconds":F}],
 "leave":{"gap_share":F,"after_share":F,...},
 "family":"4"|"6"|"dual","received_ipv6":N,...}
Needs root (CAP_NET_ADMIN, CAP_BPF).
`

const (
	demoPrefix   = "xmdemo" // lab namespace and interface prefix
	demoPort     = 9000
	demoNeedRoot = "xdpmux demo: needs root (CAP_NET_ADMIN, CAP_BPF) to build the lab"
	// demoDefaultRate is a rate the 2-CPU reference machine sustains with
	// the default queues and members without drops; -rate 0 sends as fast
	// as possible.
	demoDefaultRate = 200000
)

// demoIsRoot reports whether the lab can be built; tests replace it.
var demoIsRoot = func() bool { return os.Geteuid() == 0 }

type demoConfig struct {
	duration time.Duration
	queues   int
	members  int
	rate     float64
	flows    int
	size     int
	policy   localgroup.Policy
	leave    bool   // member #1 leaves and rejoins (needs members >= 2)
	slots    bool   // members bind with stable slots
	family   string // "4", "6" or "dual"
	json     bool
}

// Demo address families (-family).
const (
	demoFamily4    = "4"
	demoFamily6    = "6"
	demoFamilyDual = "dual"
)

// demoResult is the -json output and the summary's content.
//
// Every frame the generator handed to the device ends in exactly one of:
// received (taken and read by an endpoint's reader), or one of the counted
// drops (see demoDrops). Unaccounted is sent - received - dropped, which is
// 0 once the pipeline has drained.
//
// Jain is the fairness of the members' rates while bound (packets over
// seconds bound, demoEndpoint.Seconds): a member that left for a while is
// judged on the time it was a member, so Jain stays a measure of the pick's
// balance. Without a leave it is the fairness of the packet counts.
type demoResult struct {
	Sent        uint64                  `json:"sent"`
	Received    uint64                  `json:"received"`
	Dropped     uint64                  `json:"dropped"`
	Jain        float64                 `json:"jain"`
	Endpoints   []demoEndpoint          `json:"endpoints"`
	Queues      []demoQueue             `json:"queues"`
	Drops       demoDrops               `json:"drops"`
	Unaccounted int64                   `json:"unaccounted"`
	SendErrors  uint64                  `json:"send_errors"`
	Seconds     float64                 `json:"seconds"`
	PPS         float64                 `json:"pps"` // received per second of sending
	Backend     string                  `json:"backend"`
	Policy      string                  `json:"policy"`
	Interface   dataplane.InterfaceInfo `json:"interface"`
	Interrupted bool                    `json:"interrupted,omitempty"`
	Slots       bool                    `json:"slots"`
	Leave       *demoLeave              `json:"leave,omitempty"`
	// Family is -family; Received6 the part of Received that was IPv6.
	Family    string `json:"family"`
	Received6 uint64 `json:"received_ipv6"`
}

// demoEndpoint is one member; a member that left and rejoined is one
// entry (same name, same slot), its packets counted over both bindings.
type demoEndpoint struct {
	Name    string  `json:"name"`
	Packets uint64  `json:"packets"`
	Seconds float64 `json:"seconds"` // of sending during which it was bound
}

// demoLeave reports the leave and the rejoin (like replay -leave, measured
// on what the endpoints read). A flow is a source port of the generator;
// its member in a phase is the member that read its last frame in that
// phase. Phases start a settle time after the change (demoSettle), so
// frames picked before it and still queued are not counted. Of the flows
// seen before the leave, GapFlows were seen while the member was gone and
// GapMoved of them reached another member than before; AfterFlows and
// AfterMoved likewise after the rejoin. Shares are moved/flows, 0 when no
// flow was seen.
type demoLeave struct {
	Member     string  `json:"member"`
	At         float64 `json:"at"`   // seconds after the start of sending
	Back       float64 `json:"back"` // 0: not back (interrupted)
	Members    int     `json:"members"`
	Ideal      float64 `json:"ideal"` // 1/members: the share that must move
	Flows      uint64  `json:"flows"` // flows seen before the leave
	GapFlows   uint64  `json:"gap_flows"`
	GapMoved   uint64  `json:"gap_moved"`
	GapShare   float64 `json:"gap_share"`
	AfterFlows uint64  `json:"after_flows"`
	AfterMoved uint64  `json:"after_moved"`
	AfterShare float64 `json:"after_share"`
}

type demoQueue struct {
	Queue   int    `json:"queue"`
	Packets uint64 `json:"packets"` // frames the queue's worker received
}

// demoDrops are the counted drops between the sender and the readers, by
// where they happen, in path order. Each dropped frame is counted in
// exactly one field.
type demoDrops struct {
	// Veth: frames the sending veth dropped before they reached the
	// receiving end (its tx_dropped: the receiver's XDP ring was full).
	Veth uint64 `json:"veth"`
	// XDPPass: frames the XDP program passed to the kernel instead of
	// redirecting them, but for those not to the receiver's MAC (the
	// generator sends none: multicast such as an IPv6 lab's MLD reports);
	// the lab is otherwise silent, so every other passed frame is ours.
	XDPPass uint64 `json:"xdp_pass"`
	// XSKRxDropped: the AF_XDP socket had no free frame (in copy mode this
	// is also what rx_fill_ring_empty_descs counts, so that is not added).
	XSKRxDropped uint64 `json:"xsk_rx_dropped"`
	// XSKRingFull: the socket's rx ring was full.
	XSKRingFull uint64 `json:"xsk_rx_ring_full"`
	// XSKInvalid: invalid descriptors (never expected).
	XSKInvalid uint64 `json:"xsk_rx_invalid_descs"`
	// Unmatched, Malformed: the worker found no endpoint, or could not
	// parse the frame.
	Unmatched uint64 `json:"unmatched"`
	Malformed uint64 `json:"malformed"`
	// RingFull: an endpoint's delivery ring was full (its reader lagged).
	RingFull uint64 `json:"ring_full"`
	// Closed: queued on an endpoint when it closed.
	Closed uint64 `json:"closed"`
}

func (d demoDrops) total() uint64 {
	return d.Veth + d.XDPPass + d.XSKRxDropped + d.XSKRingFull + d.XSKInvalid +
		d.Unmatched + d.Malformed + d.RingFull + d.Closed
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfg demoConfig
	fs.DurationVar(&cfg.duration, "duration", 8*time.Second, "how long to send")
	fs.IntVar(&cfg.queues, "queues", 2, "veth queues (one AF_XDP socket and worker each)")
	fs.IntVar(&cfg.members, "members", 4, "members of the reuseport group")
	fs.Float64Var(&cfg.rate, "rate", demoDefaultRate, "packets per second in all (0: as fast as possible)")
	fs.IntVar(&cfg.flows, "flows", 256, "distinct UDP flows (source ports)")
	fs.IntVar(&cfg.size, "size", txgen.DefaultSize, "frame size in bytes, Ethernet header included")
	policyName := fs.String("policy", "threshold", "member pick policy: threshold, modulo or maglev")
	fs.BoolVar(&cfg.leave, "leave", true, "member #1 leaves and rejoins midway (with -members >= 2)")
	fs.BoolVar(&cfg.slots, "slots", true, "members bind with stable slots (the rejoin moves no flow)")
	fs.StringVar(&cfg.family, "family", demoFamily4, "address family of the group and the flows: 4, 6 or dual")
	fs.BoolVar(&cfg.json, "json", false, "print only one JSON object at the end")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, demoUsage)
			return 0
		}
		fmt.Fprintf(stderr, "xdpmux demo: %v\n%s", err, demoUsage)
		return 2
	}
	if err := cfg.check(fs.Args(), *policyName); err != nil {
		fmt.Fprintf(stderr, "xdpmux demo: %v\n", err)
		return 2
	}
	if !demoIsRoot() {
		fmt.Fprintln(stderr, demoNeedRoot)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := runDemo(ctx, cfg, stdout, stderr)
	if err != nil {
		if errors.Is(err, dataplane.ErrPermission) {
			fmt.Fprintln(stderr, demoNeedRoot)
		} else {
			fmt.Fprintf(stderr, "xdpmux demo: %v\n", err)
		}
		return 1
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "xdpmux demo: %v\n", err)
			return 1
		}
		return 0
	}
	printDemoSummary(stdout, res)
	return 0
}

func (c *demoConfig) check(rest []string, policy string) error {
	var err error
	if c.family == "" {
		c.family = demoFamily4
	}
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected argument %q", rest[0])
	case c.duration <= 0:
		return fmt.Errorf("-duration %v: must be positive", c.duration)
	case c.queues < 1 || c.queues > netlab.MaxQueues:
		return fmt.Errorf("-queues %d: want 1 to %d", c.queues, netlab.MaxQueues)
	case c.members < 1 || c.members > 256:
		return fmt.Errorf("-members %d: want 1 to 256", c.members)
	case c.rate < 0 || c.rate != c.rate:
		return fmt.Errorf("-rate %v: want a number >= 0", c.rate)
	case c.flows < 1 || c.flows > txgen.NumSrcPorts:
		return fmt.Errorf("-flows %d: want 1 to %d", c.flows, txgen.NumSrcPorts)
	case c.size < txgen.MinSize || c.size > 1514:
		return fmt.Errorf("-size %d: want %d to 1514", c.size, txgen.MinSize)
	case c.family != demoFamily4 && c.family != demoFamily6 && c.family != demoFamilyDual:
		return fmt.Errorf("-family %q: want 4, 6 or dual", c.family)
	case c.family == demoFamilyDual && c.flows < 2:
		return fmt.Errorf("-flows %d: -family dual needs at least 2", c.flows)
	}
	if c.family != demoFamily4 {
		if c.size == txgen.DefaultSize {
			c.size = txgen.MinSize6
		}
		if c.size < txgen.MinSize6 {
			return fmt.Errorf("-size %d: IPv6 frames need at least %d", c.size, txgen.MinSize6)
		}
	}
	if c.policy, err = localgroup.ParsePolicy(policy); err != nil {
		return fmt.Errorf("-policy %q: %w", policy, err)
	}
	c.leave = c.leave && c.members >= 2
	return nil
}

// demoReader reads one member; its counters are written by its goroutine
// only. After a leave and a rejoin a new goroutine reads the new endpoint
// with the same counters, started once the first has returned. ep, leftAt
// and away belong to the control loop.
type demoReader struct {
	ep      *dataplane.Endpoint
	member  int
	flows   *demoFlows
	done    chan struct{} // closed when the reading goroutine returns
	leftAt  time.Time     // zero while bound
	away    time.Duration // time unbound, rejoins included
	packets atomic.Uint64
	v6      atomic.Uint64 // of packets, the IPv6 ones
	sum     atomic.Uint64 // of every payload byte, so none goes unread
	_       [32]byte
}

// bound is how long r was bound from start to now.
func (r *demoReader) bound(start, now time.Time) time.Duration {
	d := now.Sub(start) - r.away
	if !r.leftAt.IsZero() {
		d -= now.Sub(r.leftAt)
	}
	return max(d, 0)
}

// Phases of demoFlows: which table the readers record in.
const (
	demoPhaseNone   = -1 // settling after a change: not recorded
	demoPhaseBefore = 0
	demoPhaseGap    = 1
	demoPhaseAfter  = 2
)

// demoSettle is how long after a leave or a rejoin frames are not
// recorded: those already queued on an endpoint were picked before the
// change.
func demoSettle(d time.Duration) time.Duration { return min(250*time.Millisecond, d/12) }

// demoFlows records, per phase, the member that read each flow's last
// frame (member+1, 0: not seen). Readers write it, the control loop reads
// it; flows are indexed by source port - txgen.FirstSrcPort, IPv6 ones
// from v6Base on (-family dual: the IPv4 generator's flows come first).
type demoFlows struct {
	phase  atomic.Int32 // a demoPhase, written by the control loop
	seen   [3][]atomic.Int32
	v6Base int
}

func newDemoFlows(n int) *demoFlows {
	t := &demoFlows{}
	for p := range t.seen {
		t.seen[p] = make([]atomic.Int32, n)
	}
	return t
}

// record notes the member of each frame of batch; no allocation.
func (t *demoFlows) record(batch []dataplane.Frame, member int) {
	p := t.phase.Load()
	if p < 0 {
		return
	}
	seen := t.seen[p]
	for i := range batch {
		f := int(batch[i].Src.Port()) - txgen.FirstSrcPort
		if batch[i].Src.Addr().Is6() {
			f += t.v6Base
		}
		if uint(f) < uint(len(seen)) {
			seen[f].Store(int32(member + 1))
		}
	}
}

// moved counts the flows seen both before the leave and in phase p, and
// of those the ones whose member changed.
func (t *demoFlows) moved(p int) (flows, moved uint64) {
	for f := range t.seen[demoPhaseBefore] {
		was, now := t.seen[demoPhaseBefore][f].Load(), t.seen[p][f].Load()
		if was == 0 || now == 0 {
			continue
		}
		flows++
		if now != was {
			moved++
		}
	}
	return flows, moved
}

// before counts the flows seen before the leave.
func (t *demoFlows) before() (n uint64) {
	for f := range t.seen[demoPhaseBefore] {
		if t.seen[demoPhaseBefore][f].Load() != 0 {
			n++
		}
	}
	return n
}

// demoShare is moved/flows, 0 when no flow was seen.
func demoShare(flows, moved uint64) float64 {
	if flows == 0 {
		return 0
	}
	return float64(moved) / float64(flows)
}

func (r *demoReader) run() error {
	batch := make([]dataplane.Frame, rxq.BatchSize)
	var sum uint64
	for {
		n, err := r.ep.Receive(context.Background(), batch)
		if err != nil {
			if errors.Is(err, dataplane.ErrClosed) {
				return nil
			}
			return fmt.Errorf("%s: %w", r.ep.Name(), err)
		}
		var v6 uint64
		for i := range batch[:n] {
			for _, b := range batch[i].Payload {
				sum += uint64(b)
			}
			if batch[i].Src.Addr().Is6() {
				v6++
			}
		}
		r.flows.record(batch[:n], r.member)
		r.ep.Release(batch[:n])
		r.sum.Store(sum)
		r.packets.Add(uint64(n))
		r.v6.Add(v6) // after packets: a reader of v6, then packets, sees v6 <= packets
	}
}

// demoSender is the traffic source: one txgen generator per destination
// (two with -family dual), or plain UDP sockets when txgen cannot open
// the interface.
type demoSender struct {
	gens    []*txgen.Generator
	conns   []*net.UDPConn
	connDst []netip.AddrPort // by conn
	backend string
	sent    atomic.Uint64
	errs    atomic.Uint64
	rate    atomic.Uint64 // packets per second over the last progress interval
}

// demoShares splits n (flows or packets per second) between the
// destinations: the first gets the rest of an odd split.
func demoShares(n, parts int) []int {
	out := make([]int, parts)
	for i := range out {
		out[i] = n / parts
	}
	out[0] += n % parts
	return out
}

func runDemo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) (res demoResult, err error) {
	netlab.Cleanup(demoPrefix)
	lab, err := netlab.New(netlab.Config{Queues: cfg.queues, Prefix: demoPrefix, IPv6: cfg.family != demoFamily4})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			err = fmt.Errorf("%w: %w", dataplane.ErrPermission, err)
		}
		return res, err
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	var ifc *dataplane.Interface
	if err := lab.InRecv(func() (err error) {
		ifc, err = dataplane.OpenInterface(dataplane.InterfaceConfig{Ifname: lab.RecvIf, Socket: demoSocketOptions(),
			Config: dataplane.Config{RingSize: 4096, Table: pcb.Config{DualStackGroups: cfg.family == demoFamilyDual}}})
		return err
	}); err != nil {
		return res, err
	}
	var readers []*demoReader
	var rwg sync.WaitGroup
	rerrs := make([]error, cfg.members)
	defer func() {
		// Closing the interface closes the endpoints: the readers return.
		cerr := ifc.Close()
		rwg.Wait()
		err = errors.Join(err, cerr, errors.Join(rerrs...))
	}()
	if err := ifc.SetPolicy(cfg.policy); err != nil {
		return res, err
	}
	// The group's address and the generators' destinations.
	dst := netip.AddrPortFrom(lab.RecvAddr, demoPort)
	dsts := []netip.AddrPort{dst}
	flows := newDemoFlows(cfg.flows)
	switch cfg.family {
	case demoFamily6:
		dst = netip.AddrPortFrom(lab.RecvAddr6, demoPort)
		dsts = []netip.AddrPort{dst}
	case demoFamilyDual:
		dst = netip.AddrPortFrom(netip.IPv6Unspecified(), demoPort)
		dsts = []netip.AddrPort{netip.AddrPortFrom(lab.RecvAddr, demoPort), netip.AddrPortFrom(lab.RecvAddr6, demoPort)}
		flows.v6Base = demoShares(cfg.flows, 2)[0]
	}
	owner := pcb.UIDOwner(uint32(os.Getuid()))
	for m := range cfg.members {
		ep, err := ifc.Bind(pcb.Spec{Proto: pcb.UDP, Local: dst, ReusePort: true, Owner: owner,
			DualStack: cfg.family == demoFamilyDual, HasSlot: cfg.slots, Slot: uint32(m),
			Name: fmt.Sprintf("udp/%s#%d", dst, m)}, dataplane.EndpointOptions{})
		if err != nil {
			return res, err
		}
		readers = append(readers, &demoReader{ep: ep, member: m, flows: flows})
	}
	startReader := func(r *demoReader) {
		r.done = make(chan struct{})
		rwg.Go(func() {
			defer close(r.done)
			if err := r.run(); err != nil {
				rerrs[r.member] = errors.Join(rerrs[r.member], err)
			}
		})
	}
	for _, r := range readers {
		startReader(r)
	}

	snd, err := newDemoSender(lab, dsts, cfg, stderr)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, snd.close()) }()

	info := ifc.Info()
	view := newLiveView(stdout)
	if !cfg.json {
		slots := "no slots"
		if cfg.slots {
			slots = "stable slots"
		}
		from, to := lab.SendAddr.String(), lab.RecvAddr.String()
		switch cfg.family {
		case demoFamily6:
			from, to = lab.SendAddr6.String(), lab.RecvAddr6.String()
		case demoFamilyDual:
			from += " " + lab.SendAddr6.String()
			to += " " + lab.RecvAddr6.String()
		}
		fmt.Fprintln(stdout, wrapLine(fmt.Sprintf("xdpmux demo: from %s (%s, %s)", lab.SendNS, lab.SendIf, from), viewColumns, "    "))
		fmt.Fprintln(stdout, wrapLine(fmt.Sprintf("  to %s (%s, %s)", lab.RecvNS, lab.RecvIf, to), viewColumns, "    "))
		fmt.Fprintf(stdout, "  %d queues, XDP %s, AF_XDP %s, sending with %s\n",
			cfg.queues, info.XDPMode, info.SocketMode, snd.backend)
		fmt.Fprintf(stdout, "  %d members on udp/%s, policy %s, %s\n", cfg.members, dst, cfg.policy, slots)
		if cfg.leave {
			fmt.Fprintf(stdout, "  member #1 leaves at %.1fs and rejoins at %.1fs\n",
				(cfg.duration / 3).Seconds(), (2 * cfg.duration / 3).Seconds())
		}
	}

	sendCtx, cancelSend := context.WithTimeout(ctx, cfg.duration)
	defer cancelSend()
	start := time.Now()
	sendDone := make(chan error, 1)
	go func() { sendDone <- snd.run(sendCtx, cfg) }()

	prev := demoSample{at: start, members: make([]uint64, len(readers)), queues: make([]uint64, cfg.queues)}
	tick := time.NewTicker(time.Second)
	var (
		sendErr                error
		leaveC, backC, settleC <-chan time.Time
		nextPhase              int32
		lv                     *demoLeave
		leaver                 *demoReader
	)
	if cfg.leave {
		leaver = readers[1]
		leaveC = time.After(cfg.duration / 3)
		backC = time.After(2 * cfg.duration / 3)
		lv = &demoLeave{Member: leaver.ep.Name(), Members: cfg.members, Ideal: 1 / float64(cfg.members)}
	}
	settle := demoSettle(cfg.duration)
loop:
	for {
		select {
		case sendErr = <-sendDone:
			break loop
		case <-leaveC:
			leaveC = nil
			flows.phase.Store(demoPhaseNone)
			leaver.leftAt = time.Now()
			lv.At = leaver.leftAt.Sub(start).Seconds()
			if err := leaver.ep.Close(); err != nil {
				return res, err
			}
			<-leaver.done
			settleC, nextPhase = time.After(settle), demoPhaseGap
		case <-backC:
			backC = nil
			flows.phase.Store(demoPhaseNone)
			ep, err := ifc.Bind(leaver.ep.Spec(), dataplane.EndpointOptions{})
			if err != nil {
				return res, fmt.Errorf("rejoin: %w", err)
			}
			now := time.Now()
			leaver.away += now.Sub(leaver.leftAt)
			leaver.leftAt = time.Time{}
			lv.Back = now.Sub(start).Seconds()
			leaver.ep = ep
			startReader(leaver)
			settleC, nextPhase = time.After(settle), demoPhaseAfter
		case <-settleC:
			settleC = nil
			flows.phase.Store(nextPhase)
		case <-tick.C:
			cur := sample(ifc, readers, snd)
			if !cfg.json {
				view.Draw(demoFrame(prev, cur, readers, start, flows, lv, cfg.family != demoFamily4))
			}
			prev = cur
		}
	}
	tick.Stop()
	// The last second ends with the sending, usually just before its tick:
	// draw it, so that the live view shows the run's end (the rejoined
	// member "back since") and not only what it was a second earlier.
	if !cfg.json && sendErr == nil && time.Since(prev.at) >= time.Second/2 {
		view.Draw(demoFrame(prev, sample(ifc, readers, snd), readers, start, flows, lv, cfg.family != demoFamily4))
	}
	end := time.Now()
	elapsed := end.Sub(start)
	if sendErr != nil {
		return res, fmt.Errorf("send: %w", sendErr)
	}

	// Let the pipeline drain: every sent frame is then received or counted.
	res = drainDemo(ctx, lab, ifc, readers, snd)
	rates := make([]float64, len(readers))
	for m, r := range readers {
		sec := r.bound(start, end).Seconds()
		res.Endpoints[m].Seconds = sec
		if sec > 0 {
			rates[m] = float64(res.Endpoints[m].Packets) / sec
		}
	}
	res.Jain = fairness.Jain(rates)
	if lv != nil {
		lv.Flows = flows.before()
		lv.GapFlows, lv.GapMoved = flows.moved(demoPhaseGap)
		lv.GapShare = demoShare(lv.GapFlows, lv.GapMoved)
		lv.AfterFlows, lv.AfterMoved = flows.moved(demoPhaseAfter)
		lv.AfterShare = demoShare(lv.AfterFlows, lv.AfterMoved)
		res.Leave = lv
	}
	res.Slots = cfg.slots
	res.Family = cfg.family
	res.Seconds = elapsed.Seconds()
	if res.Seconds > 0 {
		res.PPS = float64(res.Received) / res.Seconds
	}
	res.Backend = snd.backend
	res.Policy = cfg.policy.String()
	res.Interface = info
	res.Interrupted = ctx.Err() != nil
	if err := ifc.CheckFrames(); err != nil {
		return res, err
	}
	return res, nil
}

// demoSocketOptions are the defaults with deeper rings: on a busy
// 2-CPU machine a worker may lose the CPU for a few milliseconds, and the
// rx and fill rings absorb that instead of dropping (rx_ring_full).
func demoSocketOptions() rxq.SocketOptions {
	o := rxq.DefaultSocketOptions()
	o.FrameSize = 2048
	o.NumFrames = 16384
	o.FillRingSize = 16384
	o.RXRingSize = 8192
	return o
}

// demoSample is one reading of the counters.
type demoSample struct {
	at       time.Time
	sent     uint64
	sendRate uint64
	members  []uint64
	v6       uint64 // of the members' packets, the IPv6 ones
	queues   []uint64
	drops    uint64
}

func sample(ifc *dataplane.Interface, readers []*demoReader, snd *demoSender) demoSample {
	s := demoSample{at: time.Now(), sent: snd.sent.Load(), sendRate: snd.rate.Load()}
	for _, r := range readers {
		s.v6 += r.v6.Load() // before packets: v6 <= the packets read below
		s.members = append(s.members, r.packets.Load())
	}
	st := ifc.Stats()
	for _, q := range st.Queues {
		s.queues = append(s.queues, q.RX)
		s.drops += q.RingFull + q.ClosedDropped + q.Unmatched + q.MalformedTotal()
	}
	if xs, err := ifc.XDPStats(); err == nil {
		for _, q := range xs {
			s.drops += q.Program.Passed - q.Program.NotForHost + q.Socket.RxDropped + q.Socket.RxRingFull + q.Socket.RxInvalidDescs
		}
	}
	return s
}

func demoFrame(prev, cur demoSample, readers []*demoReader, start time.Time, flows *demoFlows, lv *demoLeave, v6 bool) viewFrame {
	dt := cur.at.Sub(prev.at).Seconds()
	rate := func(a, b uint64) float64 {
		if dt <= 0 {
			return 0
		}
		return float64(b-a) / dt
	}
	var f viewFrame
	f.Title = fmt.Sprintf("t=%2.0fs sent %d (%s pps)", cur.at.Sub(start).Seconds(), cur.sent, humanRate(float64(cur.sendRate)))
	qs := viewSection{Title: "queues (worker rx)", Unit: "pps"}
	for q := range cur.queues {
		qs.Rows = append(qs.Rows, viewRow{Label: fmt.Sprintf("q%d", q), Value: rate(prev.queues[q], cur.queues[q])})
	}
	group, _, _ := strings.Cut(readers[0].ep.Name(), "#")
	ms := viewSection{Title: "members of " + group + " (read by app)", Unit: "pps"}
	rates := make([]float64, len(readers))
	var recv uint64
	for m, r := range readers {
		if sec := r.bound(start, cur.at).Seconds(); sec > 0 {
			rates[m] = float64(cur.members[m]) / sec
		}
		recv += cur.members[m]
		_, idx, _ := strings.Cut(r.ep.Name(), "#")
		note := fmt.Sprintf("total %d", cur.members[m])
		if !r.leftAt.IsZero() {
			note = "LEFT"
		}
		ms.Rows = append(ms.Rows, viewRow{Label: "#" + idx, Value: rate(prev.members[m], cur.members[m]), Note: note})
	}
	f.Sections = []viewSection{qs, ms}
	if lv != nil {
		_, idx, _ := strings.Cut(lv.Member, "#")
		switch {
		case lv.Back > 0:
			f.Title += fmt.Sprintf(", #%s back since %.1fs", idx, lv.Back)
		case lv.At > 0:
			f.Title += fmt.Sprintf(", #%s gone since %.1fs", idx, lv.At)
		}
	}
	f.Footer = []string{fmt.Sprintf("received %d  dropped %d (+%d/s)  jain %.4f",
		recv, cur.drops, uint64(rate(prev.drops, cur.drops)), fairness.Jain(rates))}
	if v6 {
		var prevRecv uint64
		for _, n := range prev.members {
			prevRecv += n
		}
		f.Footer = append(f.Footer, fmt.Sprintf("IPv4 %s pps, IPv6 %s pps (read by app)",
			humanRate(rate(prevRecv-prev.v6, recv-cur.v6)), humanRate(rate(prev.v6, cur.v6))))
	}
	if lv != nil {
		f.Footer = append(f.Footer, demoMovedLine(flows, lv))
	}
	return f
}

// demoMovedLine is the live view's line on the flows that moved.
func demoMovedLine(flows *demoFlows, lv *demoLeave) string {
	share := func(p int) string {
		n, m := flows.moved(p)
		if n == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%% (%d/%d)", 100*demoShare(n, m), m, n)
	}
	return fmt.Sprintf("moved: gone %s, back %s; ideal 1/%d = %.1f%%",
		share(demoPhaseGap), share(demoPhaseAfter), lv.Members, 100*lv.Ideal)
}

// drainDemo waits until every sent frame is received or counted as
// dropped (or progress stops), then reads the final counters.
func drainDemo(ctx context.Context, lab *netlab.Lab, ifc *dataplane.Interface, readers []*demoReader, snd *demoSender) demoResult {
	deadline := time.Now().Add(3 * time.Second)
	var (
		res      demoResult
		last     uint64
		lastMove = time.Now()
	)
	for {
		res = demoAccount(lab, ifc, readers, snd)
		done := res.Received + res.Dropped
		if done >= res.Sent || time.Now().After(deadline) || time.Since(lastMove) > time.Second {
			break
		}
		if done != last {
			last, lastMove = done, time.Now()
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			// Interrupted: still drain, but briefly.
			if time.Until(deadline) > 500*time.Millisecond {
				deadline = time.Now().Add(500 * time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return res
}

// demoAccount reads every counter between the sender and the readers.
func demoAccount(lab *netlab.Lab, ifc *dataplane.Interface, readers []*demoReader, snd *demoSender) demoResult {
	res := demoResult{Sent: snd.sent.Load(), SendErrors: snd.errs.Load()}
	var packets []float64
	for _, r := range readers {
		res.Received6 += r.v6.Load()
		n := r.packets.Load()
		res.Received += n
		res.Endpoints = append(res.Endpoints, demoEndpoint{Name: r.ep.Name(), Packets: n})
		packets = append(packets, float64(n))
	}
	res.Jain = fairness.Jain(packets)
	st := ifc.Stats()
	for _, q := range st.Queues {
		res.Queues = append(res.Queues, demoQueue{Queue: q.Queue, Packets: q.RX})
		res.Drops.Unmatched += q.Unmatched
		res.Drops.Malformed += q.MalformedTotal()
		res.Drops.RingFull += q.RingFull
		res.Drops.Closed += q.ClosedDropped
	}
	if xs, err := ifc.XDPStats(); err == nil {
		for _, q := range xs {
			res.Drops.XDPPass += q.Program.Passed - q.Program.NotForHost
			res.Drops.XSKRxDropped += q.Socket.RxDropped
			res.Drops.XSKRingFull += q.Socket.RxRingFull
			res.Drops.XSKInvalid += q.Socket.RxInvalidDescs
		}
	}
	_ = lab.InSend(func() error {
		l, err := netlink.LinkByName(lab.SendIf)
		if err == nil && l.Attrs().Statistics != nil {
			res.Drops.Veth = l.Attrs().Statistics.TxDropped
		}
		return err
	})
	res.Dropped = res.Drops.total()
	res.Unaccounted = int64(res.Sent) - int64(res.Received) - int64(res.Dropped)
	return res
}

func printDemoSummary(w io.Writer, r demoResult) {
	var b strings.Builder
	state := "done"
	if r.Interrupted {
		state = "interrupted"
	}
	fmt.Fprintf(&b, "\nxdpmux demo %s: sent %d in %.1fs with %s,\n  received %d (%s pps), dropped %d",
		state, r.Sent, r.Seconds, r.Backend, r.Received, humanRate(r.PPS), r.Dropped)
	if r.Unaccounted != 0 {
		fmt.Fprintf(&b, ", UNACCOUNTED %d", r.Unaccounted)
	}
	if r.SendErrors != 0 {
		fmt.Fprintf(&b, " (send errors %d, not sent)", r.SendErrors)
	}
	fmt.Fprintf(&b, "\n  policy %s, Jain fairness %.4f (of the rates while bound)\n", r.Policy, r.Jain)
	if r.Family != demoFamily4 && r.Family != "" {
		fmt.Fprintf(&b, "  family %s: received %d IPv4, %d IPv6\n", r.Family, r.Received-r.Received6, r.Received6)
	}
	for _, q := range r.Queues {
		fmt.Fprintf(&b, "  queue %d: %d frames\n", q.Queue, q.Packets)
	}
	for _, e := range r.Endpoints {
		share := 0.0
		if r.Received > 0 {
			share = 100 * float64(e.Packets) / float64(r.Received)
		}
		fmt.Fprintf(&b, "  %s: %d packets (%.1f%%) in %.1fs\n", e.Name, e.Packets, share, e.Seconds)
	}
	if l := r.Leave; l != nil {
		slot := "without a slot"
		if r.Slots {
			slot = "with its slot"
		}
		back := "did not rejoin"
		if l.Back > 0 {
			back = fmt.Sprintf("rejoined at %.1fs %s", l.Back, slot)
		}
		fmt.Fprintf(&b, "  %s left at %.1fs, %s;\n", l.Member, l.At, back)
		fmt.Fprintf(&b, "  of %d flows, ideal share moved 1/%d = %.1f%%:\n", l.Flows, l.Members, 100*l.Ideal)
		fmt.Fprintf(&b, "    while it was gone %d of %d moved (%.1f%%)\n", l.GapMoved, l.GapFlows, 100*l.GapShare)
		fmt.Fprintf(&b, "    after it rejoined %d of %d moved (%.1f%%)\n", l.AfterMoved, l.AfterFlows, 100*l.AfterShare)
	}
	d := r.Drops
	fmt.Fprintf(&b, "  drops: veth %d, xdp-pass %d, xsk rx-dropped %d,\n", d.Veth, d.XDPPass, d.XSKRxDropped)
	fmt.Fprintf(&b, "    xsk rx-ring-full %d, xsk invalid %d, unmatched %d, malformed %d,\n",
		d.XSKRingFull, d.XSKInvalid, d.Unmatched, d.Malformed)
	fmt.Fprintf(&b, "    endpoint ring-full %d, closed %d\n", d.RingFull, d.Closed)
	fmt.Fprintf(&b, "  lab deleted; no XDP program left\n")
	// Large counts may still make a line too long for 80 columns.
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		nl := strings.HasSuffix(l, "\n")
		l = wrapLine(strings.TrimSuffix(l, "\n"), viewColumns, "    ")
		if nl {
			l += "\n"
		}
		io.WriteString(w, l)
	}
}

// newDemoSender opens the generators in the lab's send namespace, one per
// destination, each with its share of the flows and the rate: txgen
// (AF_XDP, else AF_PACKET), or ordinary UDP sockets when txgen fails.
func newDemoSender(lab *netlab.Lab, dsts []netip.AddrPort, cfg demoConfig, stderr io.Writer) (*demoSender, error) {
	s := &demoSender{}
	logf := func(format string, args ...any) {
		if !cfg.json {
			fmt.Fprintf(stderr, format+"\n", args...)
		}
	}
	flows := demoShares(cfg.flows, len(dsts))
	gerr := lab.InSend(func() error {
		var backends []string
		for i, dst := range dsts {
			gc := txgen.Config{
				Ifname: lab.SendIf,
				Dst:    dst,
				Flows:  flows[i],
				Rate:   cfg.rate / float64(len(dsts)),
				Size:   cfg.size,
				Logf:   logf,
				// The view samples each second: a fresh count.
				ProgressEvery: 100 * time.Millisecond,
			}
			if len(dsts) > 1 {
				// An AF_XDP socket holds its TX queue: each generator
				// takes its own (on veth a frame arrives on the peer's
				// queue of the same number, so each family has its
				// queues). With fewer queues than generators the later
				// ones send by AF_PACKET.
				for q := i; q < cfg.queues; q += len(dsts) {
					gc.Queues = append(gc.Queues, q)
				}
				if len(gc.Queues) == 0 {
					gc.Backend = txgen.AFPacket
				}
			}
			g, err := txgen.New(gc)
			if err != nil {
				return err
			}
			s.gens = append(s.gens, g)
			if b := g.Backend(); !slices.Contains(backends, b) {
				backends = append(backends, b)
			}
		}
		s.backend = "txgen/" + strings.Join(backends, "+")
		return nil
	})
	if gerr == nil {
		return s, nil
	}
	s.close()
	s.gens = nil
	logf("xdpmux demo: txgen unavailable (%v); sending from UDP sockets", gerr)
	err := lab.InSend(func() error {
		for i, dst := range dsts {
			src := lab.SendAddr
			if dst.Addr().Is6() {
				src = lab.SendAddr6
			}
			for p := range min(flows[i], 256) {
				c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, uint16(txgen.FirstSrcPort+p))))
				if err != nil {
					return err
				}
				s.conns = append(s.conns, c)
				s.connDst = append(s.connDst, dst)
			}
		}
		return nil
	})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("udp senders: %w (after txgen: %w)", err, gerr)
	}
	s.backend = "udp sockets"
	return s, nil
}

// run sends until ctx is done.
func (s *demoSender) run(ctx context.Context, cfg demoConfig) error {
	if len(s.gens) > 0 {
		// One goroutine per generator; the totals are the sums of their
		// last reports.
		n := len(s.gens)
		sent, errs, rates := make([]atomic.Uint64, n), make([]atomic.Uint64, n), make([]atomic.Uint64, n)
		total := func() {
			var a, b, c uint64
			for i := range n {
				a, b, c = a+sent[i].Load(), b+errs[i].Load(), c+rates[i].Load()
			}
			s.sent.Store(a)
			s.errs.Store(b)
			s.rate.Store(c)
		}
		gerrs := make([]error, n)
		var wg sync.WaitGroup
		for i, g := range s.gens {
			wg.Go(func() {
				var prev txgen.Stats
				st, err := g.Run(ctx, func(st txgen.Stats) {
					if dt := (st.Elapsed - prev.Elapsed).Seconds(); dt > 0 {
						rates[i].Store(uint64(float64(st.Sent-prev.Sent) / dt))
					}
					prev = st
					sent[i].Store(st.Sent)
					errs[i].Store(st.Errors)
					total()
				})
				sent[i].Store(st.Sent)
				errs[i].Store(st.Errors)
				gerrs[i] = err
			})
		}
		wg.Wait()
		total()
		return errors.Join(gerrs...)
	}
	payload := make([]byte, max(cfg.size-42, 0))
	if cfg.family != demoFamily4 {
		payload = payload[:max(cfg.size-62, 0)] // the same frame size over IPv6
	}
	start := time.Now()
	var n, prevN uint64
	prevT := start
	for i := 0; ctx.Err() == nil; i++ {
		if cfg.rate > 0 {
			due := uint64(time.Since(start).Seconds() * cfg.rate)
			if n >= due {
				time.Sleep(time.Millisecond)
				continue
			}
		}
		k := i % len(s.conns)
		if _, err := s.conns[k].WriteToUDPAddrPort(payload, s.connDst[k]); err != nil {
			s.errs.Add(1)
		} else {
			n++
			s.sent.Store(n)
		}
		if dt := time.Since(prevT); dt >= time.Second {
			s.rate.Store(uint64(float64(n-prevN) / dt.Seconds()))
			prevN, prevT = n, time.Now()
		}
	}
	return nil
}

func (s *demoSender) close() error {
	var errs []error
	for _, g := range s.gens {
		errs = append(errs, g.Close())
	}
	for _, c := range s.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
