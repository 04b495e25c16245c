package dataplane

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/fairness"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

func TestFlowTable(t *testing.T) {
	ft := newFlowTable(8, time.Second) // 2 buckets of 4
	flow := func(i int) pcb.Flow {
		return pcb.Flow{Proto: pcb.UDP, Family: pcb.IPv4, SrcPort: uint16(i), DstPort: 53}
	}
	f1 := flow(1)
	ft.put(&f1, 0, 0, 7)
	if e := ft.find(&f1, 0, int64(time.Second)); e == nil || e.id != 7 {
		t.Fatalf("find = %v, want id 7", e)
	}
	if e := ft.find(&f1, 0, int64(time.Second)+1); e != nil {
		t.Errorf("idle flow found: %v", e)
	}
	// Fill the bucket (same hash) with 4 live flows, f1 (expired) making
	// room; a fifth evicts the least recently seen.
	for i := range 4 {
		f := flow(10 + i)
		ft.put(&f, 0, int64(2*time.Second)+int64(i), pcb.EndpointID(10+i))
	}
	if ft.evicted != 0 {
		t.Errorf("evicted %d; f1 had expired and should have made room", ft.evicted)
	}
	f6 := flow(16)
	now := int64(2*time.Second) + 20
	ft.put(&f6, 0, now, 16)
	if ft.evicted != 1 {
		t.Errorf("evicted %d, want 1", ft.evicted)
	}
	if f := flow(10); ft.find(&f, 0, now) != nil {
		t.Error("the oldest live flow (10) survived the eviction")
	}
	if a := testing.AllocsPerRun(100, func() { ft.put(&f6, 0, 21, 16); ft.find(&f6, 0, 21) }); a != 0 {
		t.Errorf("flow table allocates %v", a)
	}
	cfg := BoundedLoad{Fill: 0.5, FlowTableSize: 6}
	if err := cfg.validate(); err == nil {
		t.Error("flow table size 6 accepted")
	}
}

// TestBoundedLoadSlowMember: four members of one group, one of which reads
// slowly. Without bounded load its flows' frames are dropped while the
// others idle; with it, new flows avoid it and the drops fall. Each round
// brings new flows (as DNS clients do), and every flow sends two frames,
// so kept flows are exercised.
func TestBoundedLoadSlowMember(t *testing.T) {
	type result struct {
		drops   uint64
		slow    uint64 // the slow member's drops
		jain    float64
		kept    uint64
		evicted uint64
	}
	run := func(bl BoundedLoad) result {
		cfg := Config{BoundedLoad: bl, RingSize: 256, Table: pcb.Config{Policy: localgroup.Maglev}}
		l := newLab(t, 1, rxqtest.Options{NumFrames: 4096, FrameSize: 2048}, cfg)
		if err := l.d.Start(); err != nil {
			t.Fatal(err)
		}
		eps := make([]*Endpoint, 4)
		for i := range eps {
			eps[i] = l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{})
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		got := make([]int, len(eps))
		for i, ep := range eps {
			wg.Go(func() {
				batch := make([]Frame, 64)
				for {
					n, err := ep.Receive(ctx, batch)
					if err != nil {
						return
					}
					got[i] += n
					if i == 0 { // the slow one
						time.Sleep(10 * time.Millisecond)
					}
					ep.Release(batch[:n])
				}
			})
		}
		rng := rand.New(rand.NewPCG(1, 2))
		const nflows, rounds = 200, 40
		srcs := make([]netip.AddrPort, nflows)
		dst := netip.MustParseAddrPort("198.18.0.1:53")
		for range rounds {
			for i := range srcs {
				srcs[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(rng.Uint32()), byte(rng.Uint32())}), uint16(1024+rng.IntN(60000)))
			}
			for range 2 {
				for _, src := range srcs {
					for !l.inject(packettest.UDP4(src, dst, []byte("x"))) {
						time.Sleep(50 * time.Microsecond)
					}
				}
			}
			time.Sleep(5 * time.Millisecond) // the fast members keep up
		}
		l.settle()
		time.Sleep(100 * time.Millisecond)
		cancel()
		wg.Wait()
		var per []uint64
		for _, e := range l.d.Stats().Endpoints {
			per = append(per, e.Dropped)
		}
		t.Logf("fill %v: drops per endpoint %v, received %v", bl.Fill, per, got)
		st := l.d.Stats().Queues[0]
		xs := make([]float64, len(got))
		for i, n := range got {
			xs[i] = float64(n)
		}
		return result{drops: st.RingFull + st.OverBudget, slow: per[0], jain: fairness.Jain(xs), kept: st.FlowKept, evicted: st.FlowEvicted}
	}
	off := run(BoundedLoad{})
	on := run(BoundedLoad{Fill: 0.5})
	t.Logf("without bounded load: %+v", off)
	t.Logf("with bounded load (fill 0.5): %+v", on)
	if off.drops == 0 {
		t.Skip("the slow member dropped nothing without bounded load: the machine is too fast or too idle for this test to tell")
	}
	if on.drops >= off.drops || on.slow >= off.slow {
		t.Errorf("drops with bounded load %d (slow member %d), without %d (%d): want fewer", on.drops, on.slow, off.drops, off.slow)
	}
}
