package dataplane

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// batchLab is a dataplane that is not started: the test drives worker 0
// by hand.
func batchLab(t testing.TB) (*lab, *worker, []*Endpoint, [][]byte) {
	return batchLabWith(t, EndpointOptions{})
}

// batchLabWith is batchLab with every endpoint bound with opts.
func batchLabWith(t testing.TB, opts EndpointOptions) (*lab, *worker, []*Endpoint, [][]byte) {
	l := newLab(t, 1, rxqtest.Options{NumFrames: 4096, FrameSize: 2048}, Config{})
	var eps []*Endpoint
	for _, b := range bindSet {
		for range b.count {
			eps = append(eps, l.bind(b.spec, opts))
		}
	}
	// Frames that all match an endpoint.
	rng := rand.New(rand.NewPCG(5, 6))
	var frames [][]byte
	var tuple packet.Tuple
	for i := uint64(0); len(frames) < rxq.BatchSize; i++ {
		f := genFrame(rng, i, false)
		if _, id, _ := Classify(l.tz, l.d.workers[0].table, f, &tuple); id != 0 {
			frames = append(frames, f)
		}
	}
	return l, l.d.workers[0], eps, frames
}

// TestWorkerLoopAllocs checks that a whole worker round (receive, classify,
// deliver, flush; the application's take and release; recycling) allocates
// nothing.
func TestWorkerLoopAllocs(t *testing.T) {
	l, w, eps, frames := batchLab(t)
	batch := make([]Frame, rxq.BatchSize)
	round := func() {
		if n := l.set[0].InjectBatch(frames); n != len(frames) {
			t.Fatalf("inject: got %d, want %d", n, len(frames))
		}
		if n := w.poll(); n != len(frames) {
			t.Fatalf("poll: got %d, want %d", n, len(frames))
		}
		releaseAll(eps, batch)
		w.collectReturns()
		w.flush()
	}
	round()
	if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
		t.Errorf("worker round: %v allocs, want 0", allocs)
	}
	descs := make([]rxq.Desc, rxq.BatchSize)
	for _, f := range frames {
		l.set[0].Inject(f)
	}
	n := l.set[0].Receive(descs)
	if allocs := testing.AllocsPerRun(100, func() {
		w.processBatch(descs[:n])
		resetRings(w)
	}); allocs != 0 {
		t.Errorf("processBatch: %v allocs, want 0", allocs)
	}
	resetRings(w)
	l.set[0].Recycle(descAddrs(descs[:n]))
	if err := l.d.CheckFrames(); err != nil {
		t.Fatal(err)
	}
}

func descAddrs(descs []rxq.Desc) []uint64 {
	out := make([]uint64, len(descs))
	for i, d := range descs {
		out[i] = d.Addr
	}
	return out
}

// resetRings forgets what processBatch delivered, so that a benchmark can
// feed the same descriptors again without an application.
func resetRings(w *worker) {
	for _, r := range w.touched {
		r.touched = false
	}
	w.touched = w.touched[:0]
	for _, r := range w.active {
		c := r.cons.Load() // no application: rel == cons == done
		r.own.held -= r.prodW - c
		r.prodW, r.done = c, c
	}
}

// BenchmarkWorkerBatch measures the worker's per-frame cost.
//
// "classify+deliver" is processBatch alone on a batch of 64 frames already in
// the UMEM (parse, hash, lookup in groups and wildcard tables, ring enqueue):
// the worker's share of the data path. "round" adds what surrounds it with
// rxqtest: the stand-in kernel copying each frame in (InjectBatch), Receive, the
// flush (publish, notify, recycle) and an application taking and releasing
// every frame. "handler" is the round with every endpoint run to
// completion (EndpointOptions.Handler): no take, no release, no ring.
func BenchmarkWorkerBatch(b *testing.B) {
	b.Run("classify+deliver", func(b *testing.B) {
		l, w, _, frames := batchLab(b)
		for _, f := range frames {
			l.set[0].Inject(f)
		}
		descs := make([]rxq.Desc, rxq.BatchSize)
		n := l.set[0].Receive(descs)
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			w.processBatch(descs[:n])
			resetRings(w)
		}
		report(b, n, time.Since(start))
	})
	b.Run("round", func(b *testing.B) {
		l, w, eps, frames := batchLab(b)
		batch := make([]Frame, rxq.BatchSize)
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			l.set[0].InjectBatch(frames)
			w.poll()
			releaseAll(eps, batch)
			w.collectReturns()
			w.flush()
		}
		report(b, len(frames), time.Since(start))
	})
	b.Run("handler", func(b *testing.B) {
		// The round with every endpoint run to completion: the same
		// frames, each handler touching every payload byte and leaving
		// the frames to the worker.
		var sink uint64
		l, w, _, frames := batchLabWith(b, EndpointOptions{Handler: func(_ *Endpoint, fs []Frame) {
			for i := range fs {
				for _, c := range fs[i].Payload {
					sink += uint64(c)
				}
			}
		}})
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			l.set[0].InjectBatch(frames)
			w.poll()
		}
		report(b, len(frames), time.Since(start))
		_ = sink
	})
}

func report(b *testing.B, perOp int, d time.Duration) {
	pkts := float64(b.N) * float64(perOp)
	b.ReportMetric(float64(d.Nanoseconds())/pkts, "ns/pkt")
	b.ReportMetric(pkts/d.Seconds(), "pps")
}

func ExampleEndpoint_Receive() {
	// Outline of an embedded application's loop (not run):
	//
	//	ep, err := d.Bind(pcb.Spec{Proto: pcb.UDP, Local: netip.MustParseAddrPort("0.0.0.0:53"),
	//		ReusePort: true, Owner: "me"}, dataplane.EndpointOptions{})
	//	batch := make([]dataplane.Frame, 64)
	//	for {
	//		n, err := ep.Receive(ctx, batch)
	//		if err != nil {
	//			return err
	//		}
	//		for _, f := range batch[:n] {
	//			handle(f.Src, f.Payload)
	//		}
	//		ep.Release(batch[:n])
	//	}
	fmt.Println("ok")
	// Output: ok
}
