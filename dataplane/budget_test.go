package dataplane

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// budgetFrame returns a UDP/IPv4 frame to 198.18.0.1:port from a source
// derived from i, carrying i.
func budgetFrame(port uint16, i uint64) []byte {
	var payload [8]byte
	binary.BigEndian.PutUint64(payload[:], i)
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), uint16(1024+i%50000))
	return packettest.UDP4(src, netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), port), payload[:])
}

func ownedSpec(port uint16, owner pcb.Owner) pcb.Spec {
	return pcb.Spec{Proto: pcb.UDP, Local: netip.AddrPortFrom(netip.IPv4Unspecified(), port), Owner: owner}
}

// TestBudgetHoarderVsReader is issue 12: endpoints of one owner that never
// read, and an endpoint of another owner that reads. With frame budgets the
// reader gets every one of its 2000 frames over 2 queues, the hoarders'
// drops are counted on the hoarders, and no source ever runs out of frames.
// Without budgets (the last case, a control) the hoarders take the UMEM and
// the reader loses frames.
func TestBudgetHoarderVsReader(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hoarders  int // endpoints of the hoarding owner
		frames    int // UMEM frames per queue
		perReader int // hoarder frames injected per reader frame
		noBudgets bool
	}{
		{name: "one hoarder", hoarders: 1, frames: 1024, perReader: 2},
		{name: "four hoarders", hoarders: 4, frames: 4096, perReader: 5},
		{name: "four hoarders, no budgets", hoarders: 4, frames: 4096, perReader: 5, noBudgets: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testHoarderVsReader(t, tc.hoarders, tc.frames, tc.perReader, tc.noBudgets)
		})
	}
}

func testHoarderVsReader(t *testing.T, hoarders, frames, perReader int, noBudgets bool) {
	const (
		nq       = 2
		burst    = 2000
		readPort = 7100
		maxLag   = 128 // the reader is at most this many frames behind
	)
	cfg := Config{}
	if noBudgets {
		cfg.FrameReserve, cfg.EndpointFloor = -1, 1<<20
	}
	l := newLab(t, nq, rxqtest.Options{NumFrames: frames, FrameSize: 2048}, cfg)
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	var hoard []*Endpoint
	for i := range hoarders {
		hoard = append(hoard, l.bind(ownedSpec(uint16(7001+i), "uid:1000"), EndpointOptions{}))
	}
	reader := l.bind(ownedSpec(readPort, "uid:65534"), EndpointOptions{})

	var (
		received atomic.Int64
		seen     [burst]atomic.Int32
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		batch := make([]Frame, 64)
		for {
			n, err := reader.Receive(ctx, batch)
			if err != nil {
				return
			}
			for i := range batch[:n] {
				if idx := payloadIndex(&batch[i]); idx < burst {
					seen[idx].Add(1)
				}
			}
			reader.Release(batch[:n])
			received.Add(int64(n))
		}
	}()

	// The sender is paced like a reader that keeps up: it waits until the
	// workers took what it sent and the reader is at most maxLag behind.
	deadline := time.Now().Add(20 * time.Second)
	pace := func(readerInjected int64) {
		for {
			idle := true
			for _, s := range l.set {
				if s.FrameStats().RX > 0 {
					idle = false
				}
			}
			if idle && readerInjected-received.Load() <= maxLag {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("sender stuck: reader injected %d, received %d", readerInjected, received.Load())
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	var readerInjected, hoardInjected int64
	hoardFrames := make([]uint64, hoarders)
	for i := range burst {
		if l.inject(budgetFrame(readPort, uint64(i))) {
			readerInjected++
		}
		for k := range perReader {
			h := (i*perReader + k) % hoarders
			if l.inject(budgetFrame(uint16(7001+h), uint64(burst+i*perReader+k))) {
				hoardInjected++
				hoardFrames[h]++
			}
		}
		if i%16 == 15 {
			pace(readerInjected)
		}
	}
	pace(readerInjected)
	for received.Load() < readerInjected {
		if time.Now().After(deadline) {
			t.Fatalf("reader got %d of %d", received.Load(), readerInjected)
		}
		time.Sleep(time.Millisecond)
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()

	var fillEmpty uint64
	for _, s := range l.set {
		fillEmpty += s.FillEmpty()
	}
	st := l.d.Stats()
	tot := st.Totals()
	byID := map[pcb.EndpointID]EndpointStats{}
	for _, e := range st.Endpoints {
		byID[e.ID] = e
	}
	rs := byID[reader.ID()]
	var hs EndpointStats
	for _, h := range hoard {
		e := byID[h.ID()]
		hs.Delivered += e.Delivered
		hs.Dropped += e.Dropped
		hs.OverBudget += e.OverBudget
		hs.Queued += e.Queued
	}
	t.Logf("reader %d/%d %+v; hoarders %+v; totals rx %d delivered %d ring full %d over budget %d; fill empty %d",
		received.Load(), burst, rs, hs, tot.RX, tot.Delivered, tot.RingFull, tot.OverBudget, fillEmpty)

	if noBudgets {
		// The control: the hoarders starve the queue, as in the issue.
		if fillEmpty == 0 || received.Load() == burst || tot.OverBudget != 0 {
			t.Errorf("without budgets: fill empty %d, reader got %d of %d, over budget %d; want starvation and no over-budget drops",
				fillEmpty, received.Load(), burst, tot.OverBudget)
		}
		return
	}
	if fillEmpty != 0 || tot.FillEmpty != 0 {
		t.Errorf("fill empty: sources %d, Stats %d, want 0", fillEmpty, tot.FillEmpty)
	}
	if received.Load() != burst || rs.Delivered != burst || rs.Dropped != 0 || rs.OverBudget != 0 {
		t.Errorf("reader: received %d, %+v; want %d delivered, nothing dropped", received.Load(), rs, burst)
	}
	for i := range seen {
		if c := seen[i].Load(); c != 1 {
			t.Errorf("reader frame %d received %d times", i, c)
		}
	}
	if hoardInjected != int64(burst*perReader) {
		t.Errorf("hoarder frames injected %d, want %d", hoardInjected, burst*perReader)
	}
	if hs.Delivered+hs.Dropped != uint64(hoardInjected) || hs.OverBudget == 0 || hs.Dropped != hs.OverBudget {
		t.Errorf("hoarders %+v: want delivered + dropped = %d injected, all drops over budget", hs, hoardInjected)
	}
	// Each hoarder keeps exactly its budget on each queue.
	total := frames
	usable := total - DefaultFrameReserve(total)
	share := usable / 2
	budget := min(DefaultRingSize, max(share/hoarders, DefaultEndpointFloor))
	for _, h := range hoard {
		if e := byID[h.ID()]; e.Queued != uint64(nq*budget) {
			t.Errorf("hoarder %s: queued %d, want %d (%d per queue)", e.Name, e.Queued, nq*budget, budget)
		}
	}
	if tot.Unmatched != 0 || tot.MalformedTotal() != 0 || tot.RingFull != 0 {
		t.Errorf("totals: unmatched %d malformed %d ring full %d, want 0", tot.Unmatched, tot.MalformedTotal(), tot.RingFull)
	}
	if tot.RX != uint64(readerInjected+hoardInjected) || tot.RX != tot.Delivered+tot.OverBudget {
		t.Errorf("totals: rx %d delivered %d over budget %d, want rx = %d = delivered + over budget",
			tot.RX, tot.Delivered, tot.OverBudget, readerInjected+hoardInjected)
	}
	if tot.OverBudget != hs.OverBudget {
		t.Errorf("queues count %d over budget, endpoints %d", tot.OverBudget, hs.OverBudget)
	}
}

// TestBudgetAllocs checks that the over-budget path allocates nothing: a
// worker round whose every frame is dropped for its endpoint's budget.
func TestBudgetAllocs(t *testing.T) {
	l := newLab(t, 1, rxqtest.Options{NumFrames: 1024, FrameSize: 2048}, Config{})
	w := l.d.workers[0]
	l.bind(ownedSpec(7001, "a"), EndpointOptions{})
	var frames [][]byte
	for i := range rxq.BatchSize {
		frames = append(frames, budgetFrame(7001, uint64(i)))
	}
	round := func() {
		for _, f := range frames {
			l.set[0].Inject(f)
		}
		w.poll()
	}
	for range 20 { // fill the endpoint's budget
		round()
	}
	before := w.c.overBudget
	if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
		t.Errorf("over-budget round: %v allocs, want 0", allocs)
	}
	if got, want := w.c.overBudget-before, uint64(101*len(frames)); got != want {
		t.Errorf("over budget: got %d more, want %d", got, want)
	}
	if err := l.d.CheckFrames(); err != nil {
		t.Fatal(err)
	}
}

// budgetModel is the naive reference of the budget rule for one queue:
// it recomputes every share from scratch.
type budgetModel struct {
	total, usable, floor int
	rings                []*modelRing // open and closed with frames out
	returns              bool         // a release not yet collected by collectReturns
	ringFull, overBudget int
	delivered, unmatched int
	closedDropped        int
}

type modelRing struct {
	ep                  *Endpoint
	owner               pcb.Owner
	size                int
	open                bool
	queued, held, unc   int // unc: released, not collected
	delivered, ringFull int
	overBudget          int
	frames              []Frame // held by the application
	port                uint16
}

func (r *modelRing) out() int { return r.queued + r.held + r.unc }

// limits returns r's budget and its owner's share and holdings.
func (m *budgetModel) limits(r *modelRing) (budget, share, ownerHeld int) {
	owners := map[pcb.Owner]int{}
	for _, x := range m.rings {
		if x.open {
			owners[x.owner]++
		}
		if x.owner == r.owner {
			ownerHeld += x.out()
		}
	}
	share = max(m.usable/len(owners), m.floor)
	budget = min(r.size, max(share/owners[r.owner], m.floor))
	return budget, share, ownerHeld
}

func (m *budgetModel) deliver(r *modelRing) {
	over := func() bool {
		b, s, h := m.limits(r)
		return r.out() >= b || h >= s
	}
	if over() {
		r.unc = 0
		switch {
		case r.out() >= r.size:
			r.ringFull++
			m.ringFull++
			return
		case over():
			r.overBudget++
			m.overBudget++
			return
		}
	}
	r.queued++
	r.delivered++
	m.delivered++
}

func (m *budgetModel) collectAll() {
	m.returns = false
	kept := m.rings[:0]
	for _, r := range m.rings {
		r.unc = 0
		if r.open || r.out() > 0 {
			kept = append(kept, r)
		}
	}
	m.rings = kept
}

func (m *budgetModel) ring(port uint16) *modelRing {
	for _, r := range m.rings {
		if r.open && r.port == port {
			return r
		}
	}
	return nil
}

// TestBudgetModel binds, closes, injects, receives, holds and releases at
// random on a hand-driven worker and checks every delivery decision, every
// counter and every ring's budget against budgetModel.
func TestBudgetModel(t *testing.T) {
	var sum budgetModel
	for seed := range uint64(24) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			m := testBudgetModel(t, seed)
			sum.delivered += m.delivered
			sum.ringFull += m.ringFull
			sum.overBudget += m.overBudget
			sum.closedDropped += m.closedDropped
		})
	}
	t.Logf("delivered %d, ring full %d, over budget %d, closed dropped %d", sum.delivered, sum.ringFull, sum.overBudget, sum.closedDropped)
	if sum.delivered == 0 || sum.ringFull == 0 || sum.overBudget == 0 || sum.closedDropped == 0 {
		t.Error("weak test: some outcome never happened")
	}
}

func testBudgetModel(t *testing.T, seed uint64) *budgetModel {
	rng := rand.New(rand.NewPCG(seed, 12))
	total := []int{128, 256, 512}[rng.IntN(3)]
	cfg := Config{
		FrameReserve:  []int{0, -1, 16, total / 2}[rng.IntN(4)],
		EndpointFloor: []int{0, 1, 8, 32}[rng.IntN(4)],
	}
	l := newLab(t, 1, rxqtest.Options{NumFrames: total, FrameSize: 2048}, cfg)
	w := l.d.workers[0]
	m := &budgetModel{total: total}
	switch cfg.FrameReserve {
	case 0:
		m.usable = total - DefaultFrameReserve(total)
	case -1:
		m.usable = total
	default:
		m.usable = total - cfg.FrameReserve
	}
	m.floor = cfg.EndpointFloor
	if m.floor == 0 {
		m.floor = DefaultEndpointFloor
	}
	owners := []pcb.Owner{"uid:0", "uid:65534", "uid:1000"}
	const nports = 12
	frames := make([][]byte, nports*4)
	for i := range frames {
		frames[i] = budgetFrame(uint16(7200+i%nports), uint64(i))
	}
	batch := make([]Frame, 64)

	check := func(step int, what string) {
		t.Helper()
		if t.Failed() {
			t.FailNow()
		}
		st := l.d.Stats()
		byID := map[pcb.EndpointID]EndpointStats{}
		for _, e := range st.Endpoints {
			byID[e.ID] = e
		}
		outs := 0
		for _, r := range m.rings {
			outs += r.out()
			wr := r.ep.rings[0]
			if got := int(wr.outstanding()); got != r.out() {
				t.Fatalf("step %d (%s): %s outstanding %d, model %d", step, what, r.ep.Name(), got, r.out())
			}
			if !r.open {
				continue
			}
			b, s, h := m.limits(r)
			if int(wr.budget) != b || int(wr.own.share) != s || int(wr.own.held) != h {
				t.Fatalf("step %d (%s): %s budget %d share %d owner held %d, model %d %d %d",
					step, what, r.ep.Name(), wr.budget, wr.own.share, wr.own.held, b, s, h)
			}
			e := byID[r.ep.ID()]
			if int(e.Delivered) != r.delivered || int(e.OverBudget) != r.overBudget || int(e.Dropped) != r.ringFull+r.overBudget {
				t.Fatalf("step %d (%s): %s %+v, model delivered %d ring full %d over budget %d",
					step, what, r.ep.Name(), e, r.delivered, r.ringFull, r.overBudget)
			}
		}
		q := st.Queues[0]
		if int(q.Delivered) != m.delivered || int(q.RingFull) != m.ringFull || int(q.OverBudget) != m.overBudget ||
			int(q.Unmatched) != m.unmatched || int(q.ClosedDropped) != m.closedDropped {
			t.Fatalf("step %d (%s): queue %+v, model delivered %d ring full %d over budget %d unmatched %d closed %d",
				step, what, q, m.delivered, m.ringFull, m.overBudget, m.unmatched, m.closedDropped)
		}
		if fs := l.set[0].FrameStats(); fs.Fill != total-outs {
			t.Fatalf("step %d (%s): source fill %d, model %d", step, what, fs.Fill, total-outs)
		}
	}

	nextPort := func() (uint16, bool) {
		for range 20 {
			p := uint16(7200 + rng.IntN(nports))
			if m.ring(p) == nil {
				return p, true
			}
		}
		return 0, false
	}
	var open []*modelRing
	for step := range 400 {
		switch k := rng.IntN(20); {
		case k < 3 && len(open) < 8: // bind
			p, ok := nextPort()
			if !ok {
				continue
			}
			r := &modelRing{owner: owners[rng.IntN(len(owners))], size: []int{4, 16, 64, 256}[rng.IntN(4)], open: true, port: p}
			r.ep = l.bind(ownedSpec(p, r.owner), EndpointOptions{RingSize: r.size})
			m.rings = append(m.rings, r)
			open = append(open, r)
			check(step, "bind")
		case k < 4 && len(open) > 0: // close
			j := rng.IntN(len(open))
			r := open[j]
			open = append(open[:j], open[j+1:]...)
			if err := r.ep.Close(); err != nil {
				t.Fatal(err)
			}
			r.open = false
			m.closedDropped += r.queued
			r.queued, r.unc = 0, 0
			if r.out() == 0 {
				for i, x := range m.rings {
					if x == r {
						m.rings = append(m.rings[:i], m.rings[i+1:]...)
						break
					}
				}
			}
			check(step, "close")
		case k < 12: // inject and poll
			for range 1 + rng.IntN(4*rxq.BatchSize) {
				f := frames[rng.IntN(len(frames))]
				if !l.set[0].Inject(f) {
					continue
				}
				if r := m.ring(binary.BigEndian.Uint16(f[14+20+2:])); r != nil {
					m.deliver(r)
				} else {
					m.unmatched++
				}
			}
			w.poll()
			if m.returns {
				m.collectAll()
			}
			check(step, "poll")
		case k < 15 && len(open) > 0: // receive, keep
			r := open[rng.IntN(len(open))]
			size := 1 + rng.IntN(len(batch))
			n := r.ep.TryReceive(batch[:size])
			if n != min(r.queued, size) {
				t.Fatalf("step %d: receive on %s got %d, model queued %d", step, r.ep.Name(), n, r.queued)
			}
			r.frames = append(r.frames, batch[:n]...)
			r.queued -= n
			r.held += n
			check(step, "receive")
		case k < 19: // release some held frames, of an open or a closed endpoint
			var with []*modelRing
			for _, r := range m.rings {
				if r.held > 0 {
					with = append(with, r)
				}
			}
			if len(with) == 0 {
				continue
			}
			r := with[rng.IntN(len(with))]
			n := 1 + rng.IntN(r.held)
			rng.Shuffle(len(r.frames), func(i, j int) { r.frames[i], r.frames[j] = r.frames[j], r.frames[i] })
			r.ep.Release(r.frames[:n])
			r.frames = r.frames[n:]
			r.held -= n
			r.unc += n
			m.returns = true
			check(step, "release")
		default: // CheckFrames (before Start it counts without collecting)
			if err := l.d.CheckFrames(); err != nil {
				t.Fatal(err)
			}
			check(step, "check frames")
		}
	}
	for _, r := range m.rings {
		r.ep.Close()
		r.ep.Release(r.frames)
	}
	if err := l.d.CheckFrames(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDefaultFrameReserve(t *testing.T) {
	for _, tc := range []struct{ total, want int }{
		{64, 32}, {256, 128}, {512, 256}, {1024, 256}, {2048, 256}, {4096, 512}, {65536, 8192},
	} {
		if got := DefaultFrameReserve(tc.total); got != tc.want {
			t.Errorf("DefaultFrameReserve(%d): got %d, want %d", tc.total, got, tc.want)
		}
	}
}

// TestBudgetConfig checks that New validates FrameReserve and EndpointFloor.
func TestBudgetConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults", Config{}, false},
		{"no reserve", Config{FrameReserve: -1}, false},
		{"reserve all but one", Config{FrameReserve: 255}, false},
		{"reserve everything", Config{FrameReserve: 256}, true},
		{"negative floor", Config{EndpointFloor: -1}, true},
		{"large floor", Config{EndpointFloor: 1 << 20}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := rxqtest.NewSet(2, rxqtest.Options{NumFrames: 256, FrameSize: 2048})
			if err != nil {
				t.Fatal(err)
			}
			tc.cfg.Sources = rxqtest.Sources(set)
			d, err := New(tc.cfg)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("New: got %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			d.Close()
		})
	}
}
