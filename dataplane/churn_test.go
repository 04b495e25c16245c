package dataplane

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// TestChurn binds, closes and switches policy at random while traffic flows
// and several goroutines per endpoint read (holding frames for a while), and
// then checks that every frame is accounted for.
func TestChurn(t *testing.T) {
	const nq = 3
	goroutines := runtime.NumGoroutine()
	l := newLab(t, nq, rxqtest.Options{NumFrames: 512, FrameSize: 2048}, Config{RingSize: 64})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	pool := []pcb.Spec{
		udpSpec("0.0.0.0:53", true),
		udpSpec("198.18.0.1:53", true),
		udpSpec("[::]:53", true),
		tcpSpec("0.0.0.0:80", true),
		udpSpec("198.18.0.2:5000", false),
		tcpSpec("[2001:db8::1]:443", true),
	}
	var (
		received atomic.Uint64
		readers  sync.WaitGroup
		mu       sync.Mutex
		open     []*Endpoint
	)
	read := func(ep *Endpoint, seed uint64) {
		defer readers.Done()
		rng := rand.New(rand.NewPCG(seed, 7))
		batch := make([]Frame, 1+rng.IntN(16))
		var hold []Frame
		for {
			n, err := ep.Receive(context.Background(), batch)
			received.Add(uint64(n))
			if n > 0 && rng.IntN(3) == 0 {
				hold = append(hold, batch[:n]...) // keep them for a while
			} else {
				ep.Release(batch[:n])
			}
			if len(hold) > 20 || (err != nil && len(hold) > 0) {
				ep.Release(hold)
				hold = hold[:0]
			}
			if err != nil {
				if !errors.Is(err, ErrClosed) {
					t.Errorf("receive: %v", err)
				}
				return
			}
		}
	}

	stop := make(chan struct{})
	var workers sync.WaitGroup
	var injected atomic.Uint64
	workers.Add(2)
	go func() { // the "kernel"
		defer workers.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			l.inject(genFrame(rng, i, true))
			injected.Add(1)
			if i%64 == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	go func() { // the control plane
		defer workers.Done()
		rng := rand.New(rand.NewPCG(3, 4))
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			switch k := rng.IntN(10); {
			case k < 5:
				ep, err := l.d.Bind(pool[rng.IntN(len(pool))], EndpointOptions{Drain: rng.IntN(2) == 0})
				if err != nil {
					if !errors.Is(err, pcb.ErrAddrInUse) {
						t.Errorf("bind: %v", err)
					}
					continue
				}
				mu.Lock()
				open = append(open, ep)
				mu.Unlock()
				readers.Add(2)
				go read(ep, 2*i)
				go read(ep, 2*i+1)
			case k < 9:
				mu.Lock()
				if len(open) == 0 {
					mu.Unlock()
					continue
				}
				j := rng.IntN(len(open))
				ep := open[j]
				open = append(open[:j], open[j+1:]...)
				mu.Unlock()
				if err := ep.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			default:
				p := []localgroup.Policy{localgroup.Threshold, localgroup.Modulo}[rng.IntN(2)]
				if err := l.d.SetPolicy(p); err != nil {
					t.Errorf("set policy: %v", err)
				}
			}
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
	}()
	time.Sleep(2 * time.Second)
	close(stop)
	workers.Wait()
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	for _, ep := range open {
		if err := ep.Close(); err != nil {
			t.Fatal(err)
		}
	}
	readers.Wait()
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	st := l.d.Stats()
	tot := st.Totals()
	var fillEmpty uint64
	for _, s := range l.set {
		fillEmpty += s.FillEmpty()
	}
	t.Logf("injected %d, rx %d, delivered %d (received %d, closed-dropped %d, resteered %d), unmatched %d, malformed %d, ring full %d, over budget %d, fill empty %d",
		injected.Load(), tot.RX, tot.Delivered, received.Load(), tot.ClosedDropped, tot.Resteered, tot.Unmatched, tot.MalformedTotal(), tot.RingFull, tot.OverBudget, fillEmpty)
	if got := tot.RX + fillEmpty; got != injected.Load() {
		t.Errorf("rx %d + fill empty %d = %d, want injected %d", tot.RX, fillEmpty, got, injected.Load())
	}
	if got := tot.Delivered + tot.Unmatched + tot.MalformedTotal() + tot.RingFull + tot.OverBudget; got != tot.RX {
		t.Errorf("delivered + unmatched + malformed + ring full + over budget = %d, want rx %d", got, tot.RX)
	}
	if got := received.Load() + tot.ClosedDropped; got != tot.Delivered {
		t.Errorf("received %d + closed-dropped %d = %d, want delivered %d", received.Load(), tot.ClosedDropped, got, tot.Delivered)
	}
	if tot.Delivered == 0 || received.Load() == 0 {
		t.Error("weak test: nothing delivered")
	}
	if err := l.d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.d.CheckFrames(); err != nil {
		t.Fatal(err)
	}
	for _, s := range l.set {
		if fs := s.FrameStats(); fs.Fill != fs.Total {
			t.Errorf("queue %d after close: %+v", s.Queue(), fs)
		}
	}
	for i := 0; runtime.NumGoroutine() > goroutines; i++ {
		if i == 100 {
			t.Fatalf("%d goroutines left, had %d", runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
