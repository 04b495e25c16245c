package latency

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/xdpmux/xdpmux/bench/internal/sys"
	"github.com/xdpmux/xdpmux/bench/lab"
	"github.com/xdpmux/xdpmux/bench/netlab"
)

// Queues is the number of veth queues of the lab.
const Queues = 2

// firstClientPort is the first clients' source port.
const firstClientPort = 30000

type harness struct {
	ctx     context.Context
	cfg     Config
	lab     *netlab.Lab
	clients []*client
	clk     clock
	runID   uint32
	rep     *Report
	// serverPID is the running server child's process ID.
	serverPID int
}

// Measure builds a two-queue veth lab and measures each system's
// round-trip times: first at max (closed loop) for every payload, then at
// each fixed rate and at MaxShare of the lowest max. A system that fails
// is recorded in Report.Notes and the others still run. It needs root.
func Measure(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	netlab.Cleanup(cfg.Prefix)
	l, err := netlab.New(netlab.Config{Queues: Queues, Prefix: cfg.Prefix})
	if err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	defer l.Close()
	h := &harness{ctx: ctx, cfg: cfg, lab: l, clk: newClock()}
	h.rep = &Report{
		Schema: Schema, Date: time.Now().UTC().Format(time.RFC3339), Machine: sys.ThisMachine(),
		Setup: Setup{Queues: Queues, Members: cfg.Members, Clients: cfg.Clients, Outstanding: cfg.Outstanding,
			WarmupSec: cfg.Warmup.Seconds(), WindowSec: cfg.Window.Seconds(), MaxShare: cfg.MaxShare, Quick: cfg.Quick,
			ServerProcess: true},
	}
	dst := netip.AddrPortFrom(l.RecvAddr, cfg.Port)
	err = l.InSend(func() error {
		for i := range cfg.Clients {
			c, err := newClient(netip.AddrPortFrom(l.SendAddr, uint16(firstClientPort+i)), dst, max(ReadBatch, cfg.Outstanding), cfg.Payloads[0])
			if err != nil {
				return err
			}
			h.clients = append(h.clients, c)
		}
		return nil
	})
	defer func() {
		for _, c := range h.clients {
			c.conn.Close()
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("latency: clients: %w", err)
	}
	cfg.logf("lab %s -> %s (%d queues), %d clients, servers of %d members", l.SendNS, l.RecvNS, Queues, cfg.Clients, cfg.Members)

	// Phase 1: max, per system and payload.
	for _, sys := range systems {
		if cfg.NoMax {
			break
		}
		h.phase(sys, func() error {
			var errs []error
			for _, p := range cfg.Payloads {
				if _, err := h.run(sys, p, LoadMax, 0); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		})
	}
	// Phase 2: fixed rates, the last one MaxShare of the lowest max.
	rates := map[int][]float64{}
	for _, p := range cfg.Payloads {
		rates[p] = append([]float64(nil), cfg.Rates...)
		lowest := 0.0
		for _, sys := range systems {
			if r := h.rep.Find(sys, p, LoadMax, 0); r != nil && r.ReplyPPS > 0 && (lowest == 0 || r.ReplyPPS < lowest) {
				lowest = r.ReplyPPS
			}
		}
		if cfg.NoMax {
			continue
		}
		if share := shareRate(cfg.MaxShare, lowest); share > 0 {
			rates[p] = append(rates[p], share)
		} else {
			h.note("payload %d: no max rate measured, no %.0f%% of max run", p, 100*cfg.MaxShare)
		}
	}
	for _, sys := range systems {
		h.phase(sys, func() error {
			var errs []error
			for _, p := range cfg.Payloads {
				for _, r := range rates[p] {
					if _, err := h.run(sys, p, LoadFixed, r); err != nil {
						errs = append(errs, err)
					}
				}
			}
			return errors.Join(errs...)
		})
	}
	if len(h.rep.Runs) == 0 {
		return h.rep, fmt.Errorf("latency: no run succeeded: %s", strings.Join(h.rep.Notes, "; "))
	}
	return h.rep, ctx.Err()
}

// shareRate is share × max, in whole kpps from 1000 pps up, else whole
// pps; 0 when that is 0.
func shareRate(share, max float64) float64 {
	r := share * max
	if r >= 1000 {
		return float64(int64(r/1000)) * 1000
	}
	return float64(int64(r))
}

func (h *harness) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	h.cfg.logf("note: %s", s)
	h.rep.Notes = append(h.rep.Notes, s)
}

// phase starts system's server in a child process (startChild), runs fn
// and stops the server. The kernel
// server's sockets and xdpmux's interface never coexist: with a kernel
// socket on the port the XDP program would pass the flow to the kernel.
func (h *harness) phase(system string, fn func() error) {
	if h.cfg.Skip[system] || h.ctx.Err() != nil {
		return
	}
	var srv server
	var err error
	if system != SystemKernel {
		err = h.portFree()
	}
	if err == nil {
		var c *child
		var rcvbuf int
		var mode string
		c, rcvbuf, mode, err = startChild(childSpec{system: system, members: h.cfg.Members, port: h.cfg.Port,
			netns: h.lab.RecvNS, ifname: h.lab.RecvIf})
		if err == nil {
			srv, h.serverPID = c, c.cmd.Process.Pid
			if system == SystemKernel {
				h.rep.Setup.RcvBuf = rcvbuf
			} else {
				h.rep.Setup.SocketMode = mode
			}
		}
	}
	if err != nil {
		h.note("%s: start: %v", system, err)
		return
	}
	err = fn()
	if cerr := srv.close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		h.note("%s: %v", system, err)
	}
}

func (h *harness) sampleCPU() cpuSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	m, err := lab.ParseProcStat(b)
	if err != nil {
		return cpuSample{}
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", h.serverPID))
	if err != nil {
		return cpuSample{}
	}
	srv, err := lab.ParseProcessStat(b)
	if err != nil {
		return cpuSample{}
	}
	return cpuSample{machine: m, server: srv, ok: true}
}

func (h *harness) portFree() error {
	return h.lab.InRecv(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/udp")
		if err != nil {
			return err
		}
		n, err := lab.CountUDPBound(b, h.cfg.Port)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d kernel UDP sockets bound to port %d: the XDP program would pass the flow to them", n, h.cfg.Port)
		}
		return nil
	})
}

// run measures one system at one payload and load: the clients send
// from Warmup before the window to its end and wait Drain for the last
// replies.
func (h *harness) run(system string, payload int, load string, rate float64) (Run, error) {
	run := Run{System: system, Payload: payload, Load: load, RatePPS: rate}
	if err := h.ctx.Err(); err != nil {
		return run, err
	}
	h.runID++
	start := h.clk.now()
	w := &window{clk: h.clk, run: h.runID,
		w0: start + uint64(h.cfg.Warmup), w1: start + uint64(h.cfg.Warmup+h.cfg.Window)}
	w.end = h.clk.base.Add(time.Duration(w.w1) + h.cfg.Drain)
	var wg sync.WaitGroup
	var cpu [2]cpuSample
	wg.Go(func() {
		// The machine's and the server's CPU time over the window.
		for i, at := range [2]uint64{w.w0, w.w1} {
			time.Sleep(time.Duration(int64(at) - int64(h.clk.now())))
			cpu[i] = h.sampleCPU()
		}
	})
	for _, c := range h.clients {
		c.reset()
		c.setPayload(payload)
		wg.Go(func() {
			if load == LoadMax {
				c.runMax(w, h.cfg.Outstanding, h.cfg.ReplyTimeout)
			} else {
				c.runFixed(w, rate/float64(len(h.clients)))
			}
		})
	}
	wg.Wait()
	var all, req, rep Hist
	var sent, recv uint64
	for _, c := range h.clients {
		all.Merge(&c.hist)
		req.Merge(&c.req)
		rep.Merge(&c.rep)
		sent += c.sent.Load()
		recv += c.recv
	}
	run.fill(sent, recv, h.cfg.Window.Seconds(), &all)
	run.fillLegs(&req, &rep)
	run.fillCPU(cpu[0], cpu[1])
	if err := h.ctx.Err(); err != nil {
		return run, err
	}
	h.rep.Runs = append(h.rep.Runs, run)
	h.cfg.logf("%-18s %4d B %-5s rate %7.0f: sent %7.0f/s replies %7.0f/s lost %d  p50 %7.1f p99 %7.1f p99.9 %7.1f max %8.1f µs; p50/p99 request leg %.1f/%.1f, reply leg %.1f/%.1f µs; CPU busy %.0f%%, %.1f µs per reply (server %.1f)",
		system, payload, load, rate, run.SentPPS, run.ReplyPPS, run.Lost, run.P50Us, run.P99Us, run.P999Us, run.MaxUs,
		run.ReqP50Us, run.ReqP99Us, run.RepP50Us, run.RepP99Us, 100*run.BusyShare, run.CPUUsPerReply, run.ServerCPUUsPerReply)
	return run, nil
}
