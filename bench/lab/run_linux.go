package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xdpmux/xdpmux/bench/internal/sys"
	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/dataplane"
)

// labPrefix names the lab's namespaces and interfaces.
const labPrefix = "xbench"

// harness is one Run's state.
type harness struct {
	ctx      context.Context
	cfg      Config
	lab      *netlab.Lab
	gen      generator // saturation
	fixedGen generator // fixed rate (nil: no fixed load)
	sendH    *netlink.Handle
	rep      *Report
	dir      string // scratch space, removed at the end
}

// Measure builds a two-queue veth lab, measures every system under each load
// and the flow disruption, tears everything down and returns the report.
// A system that fails is recorded in Report.Notes and the others still
// run; Run fails only when the lab or the generator cannot be set up or no
// run succeeded. It needs root.
func Measure(ctx context.Context, cfg Config) (*Report, error) {
	h, done, err := newHarness(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer done()
	cfg = h.cfg
	l, gen, fixed := h.lab, h.gen, h.fixedGen
	cfg.logf("lab %s -> %s (%d queues), generator %s", l.SendNS, l.RecvNS, Queues, genName(gen, fixed))

	// The order matters: the AF_XDP phases first, each checking that no
	// kernel socket holds the port (the XDP program would pass its flow
	// to the kernel) and leaving no XDP program behind, the kernel last,
	// with no XDP program attached.
	steps := []struct {
		system string
		fn     func() error
	}{
		{SystemRxdrop, h.runXDP}, // also xdp-drop
		{SystemCRef, h.runCRef},
		{SystemXDPMux, h.runXDPMux},
		{SystemKernel, h.runKernel}, // also the busy-poll and untuned rows
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			break
		}
		if err := s.fn(); err != nil {
			h.note("%s: %v", s.system, err)
		}
	}
	h.rep.DeriveRxCPU()
	if len(h.rep.Runs) == 0 {
		return h.rep, fmt.Errorf("lab: no run succeeded: %s", strings.Join(h.rep.Notes, "; "))
	}
	return h.rep, ctx.Err()
}

// newHarness fills cfg's defaults and builds the two-queue veth lab, the
// generators and an empty report; done tears them down.
func newHarness(ctx context.Context, cfg Config) (h *harness, done func(), err error) {
	if err := cfg.fill(); err != nil {
		return nil, nil, err
	}
	if cfg.GenCPUs == 0 {
		cfg.GenCPUs = runtime.NumCPU()
	}
	var undo []func()
	done = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			done()
		}
	}()
	netlab.Cleanup(labPrefix)
	l, err := netlab.New(netlab.Config{Queues: Queues, Prefix: labPrefix})
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	undo = append(undo, func() { l.Close() })
	dir, err := os.MkdirTemp("", "xdpmux-bench-")
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	undo = append(undo, func() { os.RemoveAll(dir) })

	ns, err := netns.GetFromName(l.SendNS)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: open %s: %w", l.SendNS, err)
	}
	sendH, err := netlink.NewHandleAt(ns)
	ns.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("lab: netlink in %s: %w", l.SendNS, err)
	}
	undo = append(undo, sendH.Close)

	gen, fixed, err := newGenerators(l, &cfg, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	undo = append(undo, func() { gen.Close() })
	if fixed != nil && fixed != gen {
		undo = append(undo, func() { fixed.Close() })
	}

	h = &harness{ctx: ctx, cfg: cfg, lab: l, gen: gen, fixedGen: fixed, sendH: sendH, dir: dir}
	h.rep = &Report{
		Schema:  Schema,
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: sys.ThisMachine(),
		Setup: Setup{
			Queues: Queues, Generator: genName(gen, fixed), Flows: cfg.Flows, FrameSize: cfg.Size,
			WarmupSec: cfg.Warmup.Seconds(), WindowSec: cfg.Window.Seconds(), FixedRate: cfg.FixedRate,
			NumFrames: cfg.NumFrames, RingSize: cfg.RingSize, Quick: cfg.Quick,
		},
		Disruption: []Disruption{},
	}
	if h.rep.Setup.RingSize == 0 {
		h.rep.Setup.RingSize = dataplane.DefaultRingSize
	}
	return h, done, nil
}

func genName(sat, fixed generator) string {
	if fixed == nil || fixed == sat {
		return sat.Name()
	}
	return "saturation: " + sat.Name() + "; fixed rate: " + fixed.Name()
}

func (h *harness) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	h.cfg.logf("note: %s", s)
	h.rep.Notes = append(h.rep.Notes, s)
}

func (h *harness) skip(system string) bool { return h.cfg.Skip[system] }

// load is one offered load: saturation (rate 0) or a fixed rate.
type load struct {
	name string
	rate float64
}

func (h *harness) loads() []load {
	ls := []load{{LoadSaturation, 0}}
	if h.cfg.FixedRate > 0 {
		ls = append(ls, load{LoadFixed, h.cfg.FixedRate})
	}
	return ls
}

// counterFunc returns a system's cumulative counters: packets per member
// and drops by reason.
type counterFunc func() (members []uint64, drops map[string]uint64, err error)

func (h *harness) sample(c counterFunc) (sample, error) {
	s := sample{drops: map[string]uint64{}}
	members, drops, err := c()
	if err != nil {
		return s, err
	}
	s.members = members
	for k, v := range drops {
		s.drops[k] = v
	}
	s.t = time.Now()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, fmt.Errorf("read /proc/stat: %w", err)
	}
	if s.cpu, err = ParseProcStat(b); err != nil {
		return s, err
	}
	s.self = sys.ProcessCPU()
	link, err := h.sendH.LinkByName(h.lab.SendIf)
	if err != nil {
		return s, fmt.Errorf("link %s: %w", h.lab.SendIf, err)
	}
	if st := link.Attrs().Statistics; st != nil {
		s.offered = st.TxPackets + st.TxDropped
		// veth counts frames its peer could not take (full ring or
		// backlog) as the sender's tx_dropped.
		s.drops["veth_tx_dropped"] = st.TxDropped
	}
	// Kernel UDP errors in the receiving namespace (/proc/thread-self:
	// the calling thread's namespace, which InRecv switches).
	err = h.lab.InRecv(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		udp, err := ParseSNMP(b, "Udp")
		if err != nil {
			return err
		}
		// InErrors includes RcvbufErrors.
		s.drops["udp_rcvbuf_errors"] = udp["RcvbufErrors"]
		s.drops["udp_in_errors_other"] = udp["InErrors"] - udp["RcvbufErrors"]
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("udp counters: %w", err)
	}
	return s, nil
}

func (h *harness) sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-h.ctx.Done():
		return h.ctx.Err()
	}
}

// measure runs the generator at ld, waits Warmup, measures one Window of
// the system's counters and stops the generator.
func (h *harness) measure(system string, sockets int, ld load, policy string, c counterFunc) (Run, error) {
	run := Run{System: system, Sockets: sockets, Load: ld.name, Policy: policy}
	gen := h.gen
	if ld.rate > 0 {
		gen = h.fixedGen
	}
	start := time.Now()
	if err := gen.Start(ld.rate); err != nil {
		return run, err
	}
	stopped := false
	defer func() {
		if !stopped {
			gen.Stop()
		}
	}()
	if err := h.sleep(h.cfg.Warmup); err != nil {
		return run, err
	}
	s0, err := h.sample(c)
	if err != nil {
		return run, err
	}
	var prof *os.File
	if h.cfg.ProfileDir != "" && ld.name == LoadSaturation && (system == SystemXDPMux || system == SystemXDPMuxHandler || system == SystemKernel) {
		name := filepath.Join(h.cfg.ProfileDir, fmt.Sprintf("%s-%d.pprof", system, sockets))
		if prof, err = os.Create(name); err == nil {
			if err := pprof.StartCPUProfile(prof); err != nil {
				prof.Close()
				prof = nil
			}
		}
	}
	serr := h.sleep(h.cfg.Window)
	s1, err := h.sample(c)
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	if serr != nil {
		return run, serr
	}
	if err != nil {
		return run, err
	}
	sent, gerr := gen.Stop()
	stopped = true
	if gerr != nil {
		return run, gerr
	}
	fillRun(&run, s0, s1)
	if sent > 0 {
		run.GeneratorPPS = float64(sent) / time.Since(start).Seconds()
	}
	h.rep.Runs = append(h.rep.Runs, run)
	h.cfg.logf("%-16s N=%d %-10s offered %7.3f Mpps received %7.3f Mpps dropped %d %v jain %.4f cpu %.0f ns/pkt (self %.0f) busy %.0f%%",
		system, sockets, ld.name, run.OfferedPPS/1e6, run.ReceivedPPS/1e6, run.Dropped, nonzero(run.DropsByReason),
		run.Jain, run.CPUNsPerPkt, run.SelfCPUNsPerPkt, 100*run.CPUBusy)
	return run, nil
}

func nonzero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
