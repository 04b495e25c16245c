package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/xdpmux/xdpmux/bench/internal/sys"
	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
)

// group is a reuseport group of n members, each read by its own goroutine
// that touches every payload byte.
type group interface {
	// counts returns the packets each member received so far.
	counts() []uint64
	// flows returns, per member, the source ports it received since the
	// last call, and forgets them (record mode only).
	flows() []map[uint16]uint32
	// closeMember closes member k; its counts stay.
	closeMember(k int) error
	close() error
}

// recorder is a member's record of the source ports it received; used by
// the disruption test only, never in throughput runs.
type recorder struct {
	mu    sync.Mutex
	ports map[uint16]uint32
}

func newRecorders(n int, on bool) []*recorder {
	if !on {
		return make([]*recorder, n)
	}
	r := make([]*recorder, n)
	for i := range r {
		r[i] = &recorder{ports: map[uint16]uint32{}}
	}
	return r
}

func takeFlows(rs []*recorder) []map[uint16]uint32 {
	out := make([]map[uint16]uint32, len(rs))
	for i, r := range rs {
		if r == nil {
			continue
		}
		r.mu.Lock()
		out[i], r.ports = r.ports, map[uint16]uint32{}
		r.mu.Unlock()
	}
	return out
}

// xgroup is an xdpmux reuseport group on udp/0.0.0.0:port.
type xgroup struct {
	eps  []*dataplane.Endpoint
	cnt  []paddedCount
	loc  []paddedCount // frames that arrived on the member's own queue (memberOpts)
	rec  []*recorder
	opts memberOpts
	wg   sync.WaitGroup
	sink []uint64
	// hsink is the handlers' sum, per (member, queue): each queue's worker
	// adds to its own cache line.
	hsink []paddedCount
}

// memberOpts change how the members of an xgroup bind and read
// (locality_linux.go): member i declares queue i mod Queues (queueLocal),
// its reader is pinned to that queue's worker CPU (pin, cpus[i mod
// Queues]); member slow sleeps slowSleep after each batch (slow < 0:
// none).
type memberOpts struct {
	queueLocal bool
	pin        bool
	cpus       []int
	slow       int
	slowSleep  time.Duration
	// handler: the members run to completion (dataplane.Handler) on the
	// queues' workers instead of being read by goroutines of their own.
	handler bool
}

func startXGroup(ifc *dataplane.Interface, n int, port uint16, record bool) (*xgroup, error) {
	return startXGroupWith(ifc, n, port, record, memberOpts{slow: -1})
}

func startXGroupWith(ifc *dataplane.Interface, n int, port uint16, record bool, o memberOpts) (*xgroup, error) {
	g := &xgroup{cnt: make([]paddedCount, n), loc: make([]paddedCount, n), rec: newRecorders(n, record),
		opts: o, sink: make([]uint64, n*8), hsink: make([]paddedCount, n*Queues)}
	for i := range n {
		ep, err := ifc.Bind(pcb.Spec{
			Proto: pcb.UDP, Local: netip.AddrPortFrom(netip.IPv4Unspecified(), port),
			ReusePort: true, Owner: "xdpmux-bench", Name: fmt.Sprintf("bench#%d", i),
			HasQueue: o.queueLocal, Queue: uint32(i % Queues),
		}, dataplane.EndpointOptions{Handler: g.handlerFor(i)})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("bind member %d: %w", i, err), g.close())
		}
		g.eps = append(g.eps, ep)
		if !o.handler {
			g.wg.Go(func() { g.receive(i, ep) })
		}
	}
	return g, nil
}

// handlerFor returns member i's run-to-completion handler (nil unless
// opts.handler): the reader's work, adding up every payload byte, on the
// worker, which releases the batch when it returns. Each queue's worker
// calls it, so the count is atomic and the sum per queue.
func (g *xgroup) handlerFor(i int) dataplane.Handler {
	if !g.opts.handler {
		return nil
	}
	return func(_ *dataplane.Endpoint, frames []dataplane.Frame) {
		var acc uint64
		for j := range frames {
			for _, b := range frames[j].Payload {
				acc += uint64(b)
			}
		}
		g.hsink[(i*Queues+frames[0].Queue)%len(g.hsink)].n.Add(acc)
		g.cnt[i].n.Add(uint64(len(frames)))
	}
}

// receive is member i's reader: Receive a batch, add up every payload
// byte, Release the batch.
func (g *xgroup) receive(i int, ep *dataplane.Endpoint) {
	o := &g.opts
	if o.pin && len(o.cpus) > 0 {
		// Stays locked: the thread ends with the goroutine.
		_ = dataplane.PinThread(o.cpus[i%Queues%len(o.cpus)])
	}
	batch := make([]dataplane.Frame, ReadBatch)
	rec := g.rec[i]
	ctx := context.Background()
	var acc uint64
	home := i % Queues
	for {
		n, err := ep.Receive(ctx, batch)
		if err != nil {
			break
		}
		var local uint64
		for j := range batch[:n] {
			for _, b := range batch[j].Payload {
				acc += uint64(b)
			}
			if batch[j].Queue == home {
				local++
			}
		}
		if rec != nil {
			rec.mu.Lock()
			for j := range batch[:n] {
				rec.ports[batch[j].Src.Port()]++
			}
			rec.mu.Unlock()
		}
		ep.Release(batch[:n])
		g.cnt[i].n.Add(uint64(n))
		g.loc[i].n.Add(local)
		if i == o.slow {
			time.Sleep(o.slowSleep)
		}
	}
	g.sink[i*8] = acc
}

func (g *xgroup) counts() []uint64           { return loadCounts(g.cnt) }
func (g *xgroup) flows() []map[uint16]uint32 { return takeFlows(g.rec) }
func (g *xgroup) closeMember(k int) error    { return g.eps[k].Close() }

func (g *xgroup) close() error {
	var errs []error
	for _, ep := range g.eps {
		errs = append(errs, ep.Close())
	}
	g.wg.Wait()
	return errors.Join(errs...)
}

// runXDPMux measures xdpmux: dataplane.OpenInterface on the receiving
// veth (same socket options as rxdrop), a reuseport group of N members
// for each N, then the disruption per policy.
func (h *harness) runXDPMux() error {
	if h.skip(SystemXDPMux) {
		return nil
	}
	if err := h.portFree(); err != nil {
		return err
	}
	var ifc *dataplane.Interface
	err := h.lab.InRecv(func() error {
		var err error
		ifc, err = dataplane.OpenInterface(dataplane.InterfaceConfig{
			Ifname: h.lab.RecvIf,
			Socket: h.socketOptions(),
			Config: dataplane.Config{RingSize: h.cfg.RingSize},
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("open interface: %w", err)
	}
	h.rep.Setup.SocketMode = ifc.Info().SocketMode
	var errs []error
	for _, n := range h.cfg.Sockets {
		g, err := startXGroup(ifc, n, h.cfg.Port, false)
		if err != nil {
			errs = append(errs, err)
			break
		}
		c := func() ([]uint64, map[string]uint64, error) {
			return xdpmuxCounters(ifc, g)
		}
		for _, ld := range h.loads() {
			if _, err := h.measure(SystemXDPMux, n, ld, ifc.Policy().String(), c); err != nil {
				errs = append(errs, fmt.Errorf("group of N=%d, %s: %w", n, ld.name, err))
			}
		}
		if err := g.close(); err != nil {
			errs = append(errs, err)
		}
		if h.cfg.Handler && !h.skip(SystemXDPMuxHandler) {
			errs = append(errs, h.runHandlerGroup(ifc, n))
		}
	}
	if !h.cfg.NoDisruption {
		for _, p := range h.cfg.Policies {
			if err := ifc.SetPolicy(p); err != nil {
				errs = append(errs, err)
				continue
			}
			for _, m := range h.cfg.DisruptionMembers {
				d, err := h.disruption(func(record bool) (group, error) {
					return startXGroup(ifc, m, h.cfg.Port, record)
				}, m)
				if err != nil {
					errs = append(errs, fmt.Errorf("disruption %s: %w", p, err))
					continue
				}
				d.System, d.Policy = SystemXDPMux, p.String()
				h.addDisruption(d)
			}
		}
		if err := ifc.SetPolicy(localgroup.Threshold); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ifc.CheckFrames(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, ifc.Close())
	return errors.Join(errs...)
}

// kopts are the kernel sockets' options: rcvbuf > 0 sets SO_RCVBUF,
// busyPoll > 0 SO_BUSY_POLL (µs).
type kopts struct {
	rcvbuf, busyPoll int
}

// kgroup is a group of n kernel UDP sockets with SO_REUSEPORT on
// 0.0.0.0:port in the receiving namespace.
type kgroup struct {
	conns  []*net.UDPConn
	cnt    []paddedCount
	rec    []*recorder
	wg     sync.WaitGroup
	sink   []uint64
	rcvbuf int
}

func (h *harness) startKGroup(n int, record bool, o kopts) (*kgroup, error) {
	g := &kgroup{cnt: make([]paddedCount, n), rec: newRecorders(n, record), sink: make([]uint64, n*8)}
	addr := netip.AddrPortFrom(netip.IPv4Unspecified(), h.cfg.Port)
	err := h.lab.InRecv(func() error {
		for range n {
			c, err := sys.ListenReusePort(addr, o.rcvbuf, o.busyPoll)
			if err != nil {
				return err
			}
			g.conns = append(g.conns, c)
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(err, g.close())
	}
	if g.rcvbuf, err = sys.RcvBuf(g.conns[0]); err != nil {
		return nil, errors.Join(err, g.close())
	}
	for i, c := range g.conns {
		g.wg.Go(func() { g.receive(i, c) })
	}
	return g, nil
}

// receive is member i's reader: recvmmsg up to a batch, add up every
// payload byte.
func (g *kgroup) receive(i int, c *net.UDPConn) {
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, ReadBatch)
	for j := range msgs {
		msgs[j].Buffers = [][]byte{make([]byte, 2048)}
	}
	rec := g.rec[i]
	var acc uint64
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			break
		}
		for j := range msgs[:n] {
			for _, b := range msgs[j].Buffers[0][:msgs[j].N] {
				acc += uint64(b)
			}
		}
		if rec != nil {
			rec.mu.Lock()
			for j := range msgs[:n] {
				if a, ok := msgs[j].Addr.(*net.UDPAddr); ok {
					rec.ports[uint16(a.Port)]++
				}
			}
			rec.mu.Unlock()
		}
		g.cnt[i].n.Add(uint64(n))
	}
	g.sink[i*8] = acc
}

func (g *kgroup) counts() []uint64           { return loadCounts(g.cnt) }
func (g *kgroup) flows() []map[uint16]uint32 { return takeFlows(g.rec) }
func (g *kgroup) closeMember(k int) error    { return g.conns[k].Close() }

func (g *kgroup) close() error {
	for _, c := range g.conns {
		c.Close() // a member closed earlier reports net.ErrClosed again
	}
	g.wg.Wait()
	return nil
}

// runKernel measures the kernel: N sockets with SO_REUSEPORT for each N,
// tuned (SO_RCVBUF at net.core.rmem_max, or Config.RcvBuf) with its
// disruption, then the extra rows: tuned with SO_BUSY_POLL, and untuned
// (the default SO_RCVBUF). No XDP program is attached during these runs.
func (h *harness) runKernel() error {
	var rmem int
	if err := h.lab.InRecv(func() (err error) { rmem, err = sys.RmemMax(); return err }); err != nil {
		return fmt.Errorf("net.core.rmem_max: %w", err)
	}
	h.rep.Setup.RmemMax = rmem
	tuned := kopts{rcvbuf: rmem}
	if h.cfg.RcvBuf > 0 {
		tuned.rcvbuf = h.cfg.RcvBuf
	}
	busy := tuned
	busy.busyPoll = h.cfg.BusyPollUs
	var errs []error
	for _, k := range []struct {
		system     string
		o          kopts
		disruption bool
	}{
		{SystemKernel, tuned, !h.cfg.NoDisruption},
		{SystemKernelBusyPoll, busy, false},
		{SystemKernelUntuned, kopts{}, false},
	} {
		if h.skip(k.system) || h.ctx.Err() != nil {
			continue
		}
		if err := h.runKernelAs(k.system, k.o, k.disruption); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.system, err))
		}
	}
	return errors.Join(errs...)
}

func (h *harness) runKernelAs(system string, o kopts, disruption bool) error {
	var errs []error
	for _, n := range h.cfg.Sockets {
		g, err := h.startKGroup(n, false, o)
		if err != nil {
			errs = append(errs, err)
			break
		}
		switch system {
		case SystemKernel:
			h.rep.Setup.RcvBuf = g.rcvbuf
		case SystemKernelBusyPoll:
			h.rep.Setup.BusyPollUs = o.busyPoll
		case SystemKernelUntuned:
			h.rep.Setup.UntunedRcvBuf = g.rcvbuf
		}
		c := func() ([]uint64, map[string]uint64, error) { return g.counts(), nil, nil }
		for _, ld := range h.loads() {
			if _, err := h.measure(system, n, ld, "", c); err != nil {
				errs = append(errs, fmt.Errorf("group of N=%d, %s: %w", n, ld.name, err))
			}
		}
		errs = append(errs, g.close())
	}
	if disruption {
		for _, m := range h.cfg.DisruptionMembers {
			d, err := h.disruption(func(record bool) (group, error) { return h.startKGroup(m, record, o) }, m)
			if err != nil {
				errs = append(errs, fmt.Errorf("disruption: %w", err))
				continue
			}
			d.System, d.Policy = system, "kernel"
			h.addDisruption(d)
		}
	}
	return errors.Join(errs...)
}

// xdpmuxCounters returns g's counts and the dataplane's drops by reason.
func xdpmuxCounters(ifc *dataplane.Interface, g group) ([]uint64, map[string]uint64, error) {
	drops := map[string]uint64{}
	st := ifc.Stats().Totals()
	drops["endpoint_ring_full"] = st.RingFull
	drops["over_budget"] = st.OverBudget
	drops["unmatched"] = st.Unmatched
	drops["malformed"] = st.MalformedTotal()
	drops["closed_dropped"] = st.ClosedDropped
	xs, err := ifc.XDPStats()
	if err != nil {
		return nil, nil, err
	}
	for _, x := range xs {
		xskDrops(drops, x.Socket)
	}
	return g.counts(), drops, nil
}

// runHandlerGroup measures a group of n run-to-completion members
// (SystemXDPMuxHandler) under each load.
func (h *harness) runHandlerGroup(ifc *dataplane.Interface, n int) error {
	g, err := startXGroupWith(ifc, n, h.cfg.Port, false, memberOpts{slow: -1, handler: true})
	if err != nil {
		return err
	}
	var errs []error
	c := func() ([]uint64, map[string]uint64, error) { return xdpmuxCounters(ifc, g) }
	for _, ld := range h.loads() {
		if _, err := h.measure(SystemXDPMuxHandler, n, ld, ifc.Policy().String(), c); err != nil {
			errs = append(errs, fmt.Errorf("handler group of N=%d, %s: %w", n, ld.name, err))
		}
	}
	errs = append(errs, g.close())
	return errors.Join(errs...)
}
