package lab

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/pcb"
)

// MeasureLocality runs the queue-local and bounded-load experiments of
// issue 17 in the two-queue veth lab (LocalityConfig), tears everything
// down and returns the report. It needs root.
//
// Queue-local: workers pinned to CPUs 0 and 1 (Config.CPUs); groups of
// each size, four variants: members declaring queue i mod 2 or not
// (pcb.Spec.HasQueue), and member i's reader pinned to its queue's worker
// CPU or left to the scheduler; saturation (pps) and the fixed rate (CPU
// per packet at the same offered load).
//
// Bounded load: a group of the largest size whose member 0 sleeps
// SlowSleep after each batch it reads, at the fixed rate, without and
// with Config.BoundedLoad (Fill): drops and Jain's index.
func MeasureLocality(ctx context.Context, lc LocalityConfig) (*LocalityReport, error) {
	lc.fill()
	h, done, err := newHarness(ctx, lc.Config)
	if err != nil {
		return nil, err
	}
	defer done()
	rep := &LocalityReport{Date: h.rep.Date, Machine: h.rep.Machine, Setup: h.rep.Setup,
		Policy: lc.Policy.String(), Runs: []LocalityRun{}}
	for q := range Queues {
		rep.WorkerCPUs = append(rep.WorkerCPUs, q%runtime.NumCPU())
	}
	h.cfg.logf("locality lab %s -> %s, generator %s", h.lab.SendNS, h.lab.RecvNS, rep.Setup.Generator)
	var errs []error
	if !lc.NoQueueLocal {
		errs = append(errs, h.runQueueLocal(lc, rep))
	}
	if !lc.NoBoundedLoad {
		errs = append(errs, h.runBoundedLoad(lc, rep))
	}
	rep.Notes = h.rep.Notes
	if err := errors.Join(errs...); err != nil {
		return rep, err
	}
	return rep, ctx.Err()
}

// openLocality opens the receiving interface with the workers pinned and
// bl as the bounded load.
func (h *harness) openLocality(lc LocalityConfig, cpus []int, bl dataplane.BoundedLoad) (*dataplane.Interface, error) {
	if err := h.portFree(); err != nil {
		return nil, err
	}
	var ifc *dataplane.Interface
	err := h.lab.InRecv(func() error {
		var err error
		ifc, err = dataplane.OpenInterface(dataplane.InterfaceConfig{
			Ifname: h.lab.RecvIf,
			Socket: h.socketOptions(),
			Config: dataplane.Config{RingSize: h.cfg.RingSize, CPUs: cpus, BoundedLoad: bl,
				Table: pcb.Config{Policy: lc.Policy}},
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open interface: %w", err)
	}
	return ifc, nil
}

// xcounters is the counterFunc of an xgroup on ifc.
func xcounters(ifc *dataplane.Interface, g *xgroup) counterFunc {
	return func() ([]uint64, map[string]uint64, error) { return xdpmuxCounters(ifc, g) }
}

func (g *xgroup) localShare() float64 {
	var loc, all uint64
	for i := range g.cnt {
		loc += g.loc[i].n.Load()
		all += g.cnt[i].n.Load()
	}
	if all == 0 {
		return 0
	}
	return float64(loc) / float64(all)
}

func (h *harness) runQueueLocal(lc LocalityConfig, rep *LocalityReport) error {
	ifc, err := h.openLocality(lc, rep.WorkerCPUs, dataplane.BoundedLoad{})
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range lc.Sizes {
		for _, v := range []struct{ local, pin bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			o := memberOpts{queueLocal: v.local, pin: v.pin, cpus: rep.WorkerCPUs, slow: -1}
			g, err := startXGroupWith(ifc, n, h.cfg.Port, false, o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			name := fmt.Sprintf("%s local=%v pinned=%v", lc.Policy, v.local, v.pin)
			for _, ld := range h.loads() {
				run, err := h.measure(SystemXDPMux, n, ld, name, xcounters(ifc, g))
				if err != nil {
					errs = append(errs, fmt.Errorf("%s N=%d %s: %w", name, n, ld.name, err))
					continue
				}
				rep.Runs = append(rep.Runs, LocalityRun{Run: run, Experiment: "queue-local", QueueLocal: v.local,
					Pinned: v.pin, LocalShare: g.localShare(), SlowMember: -1})
			}
			errs = append(errs, g.close())
		}
	}
	errs = append(errs, ifc.CheckFrames(), ifc.Close())
	return errors.Join(errs...)
}

func (h *harness) runBoundedLoad(lc LocalityConfig, rep *LocalityReport) error {
	n := lc.Sizes[len(lc.Sizes)-1]
	ld := load{LoadFixed, lc.FixedRate}
	var errs []error
	for _, fill := range []float64{0, lc.Fill} {
		ifc, err := h.openLocality(lc, rep.WorkerCPUs, dataplane.BoundedLoad{Fill: fill})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o := memberOpts{slow: 0, slowSleep: lc.SlowSleep}
		g, err := startXGroupWith(ifc, n, h.cfg.Port, false, o)
		if err != nil {
			errs = append(errs, err, ifc.Close())
			continue
		}
		name := fmt.Sprintf("%s bounded-load=%g slow=#0 sleep=%v", lc.Policy, fill, lc.SlowSleep)
		st0 := ifc.Stats()
		run, err := h.measure(SystemXDPMux, n, ld, name, xcounters(ifc, g))
		st1 := ifc.Stats()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		} else {
			r := LocalityRun{Run: run, Experiment: "bounded-load", BoundedLoad: fill, SlowMember: 0,
				SlowSleepUs: lc.SlowSleep.Microseconds(), LocalShare: g.localShare()}
			t0, t1 := st0.Totals(), st1.Totals()
			r.FlowKept, r.FlowEvicted = t1.FlowKept-t0.FlowKept, t1.FlowEvicted-t0.FlowEvicted
			rep.Runs = append(rep.Runs, r)
		}
		errs = append(errs, g.close(), ifc.CheckFrames(), ifc.Close())
	}
	return errors.Join(errs...)
}
