package txgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpmux/xdpmux/rxq"
)

// Generator sends the frames a Config describes. New builds it (and opens
// its sockets, in the calling thread's network namespace); Run sends;
// Close releases the sockets. Run may be called again after it returned;
// Run and Close must not be called concurrently.
type Generator struct {
	cfg     Config
	frames  *frames
	backend string
	senders []sender
	running atomic.Bool
	closed  bool
}

// sender is one backend goroutine's state: a socket and its share of the
// flows.
type sender interface {
	// run sends until quota frames were attempted or stop is set, adding
	// to c as it goes (once per batch).
	run(stop *atomic.Bool, quota uint64, p *pacer, c *counters) error
	close() error
}

// counters are one sender's running totals, read by the progress
// reporter.
type counters struct {
	sent   atomic.Uint64
	errors atomic.Uint64
	_      [48]byte // keep two senders' counters off one cache line
}

// Backend names the backend in use, as in Stats.Backend.
func (g *Generator) Backend() string { return g.backend }

// Senders is the number of sending goroutines (and sockets).
func (g *Generator) Senders() int { return len(g.senders) }

// Config returns the configuration with every default filled in.
func (g *Generator) Config() Config {
	c := g.cfg
	c.Queues = append([]int(nil), g.cfg.Queues...)
	return c
}

// drainTimeout bounds how long Run waits for frames still in flight.
const drainTimeout = 2 * time.Second

// Run sends until Config.Count frames were sent, Config.Duration passed or
// ctx is done (none of which is an error) and returns the totals. A
// non-nil progress is called about once a second, from another goroutine,
// with the totals so far. A send failure other than a transient one stops
// every sender; Run then returns the totals and the error.
func (g *Generator) Run(ctx context.Context, progress func(Stats)) (Stats, error) {
	if g.closed || !g.running.CompareAndSwap(false, true) {
		return Stats{}, ErrRunning
	}
	defer g.running.Store(false)
	if g.cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.Duration)
		defer cancel()
	}
	start := time.Now()
	n := len(g.senders)
	cnts := make([]counters, n)
	snapshot := func() Stats {
		s := Stats{Elapsed: time.Since(start), Backend: g.backend}
		for i := range cnts {
			s.Sent += cnts[i].sent.Load()
			s.Errors += cnts[i].errors.Load()
		}
		return s
	}

	var stop atomic.Bool
	done := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		select {
		case <-ctx.Done():
			stop.Store(true)
		case <-done:
		}
	})
	if progress != nil {
		bg.Go(func() {
			every := g.cfg.ProgressEvery
			if every <= 0 || every > time.Second {
				every = time.Second
			}
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					progress(snapshot())
				case <-done:
					return
				}
			}
		})
	}

	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range g.senders {
		quota := uint64(math.MaxUint64)
		if g.cfg.Count > 0 {
			quota = g.cfg.Count / uint64(n)
			if uint64(i) < g.cfg.Count%uint64(n) {
				quota++
			}
		}
		p := newPacer(g.cfg.Rate/float64(n), rxq.BatchSize)
		wg.Go(func() {
			if err := s.run(&stop, quota, &p, &cnts[i]); err != nil {
				errs[i] = fmt.Errorf("sender %d: %w", i, err)
				stop.Store(true)
			}
		})
	}
	wg.Wait()
	close(done)
	bg.Wait()
	return snapshot(), errors.Join(errs...)
}

// Close releases the sockets. It is idempotent.
func (g *Generator) Close() error {
	if g.closed {
		return nil
	}
	g.closed = true
	var errs []error
	for _, s := range g.senders {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}
