package dataplane

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// BenchmarkCrossCore is a started dataplane with the worker and one reader
// on their own goroutines (so, on this 2-CPU machine, usually on two
// cores): the benchmark injects batches of 64 frames for one endpoint and
// the reader takes and releases them. It is where a cache line shared by
// the worker's and the application's writes shows, which the single-
// goroutine BenchmarkWorkerBatch cannot.
func BenchmarkCrossCore(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs 2 CPUs")
	}
	l := newLab(b, 1, rxqtest.Options{NumFrames: 4096, FrameSize: 2048}, Config{})
	ep := l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{})
	frames := make([][]byte, rxq.BatchSize)
	for i := range frames {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 0, byte(i)}), uint16(1024+i))
		frames[i] = packettest.UDP4(src, netip.MustParseAddrPort("198.18.0.1:53"), make([]byte, 32))
	}
	if err := l.d.Start(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan int, 1)
	go func() {
		batch := make([]Frame, rxq.BatchSize)
		n := 0
		for {
			k, err := ep.Receive(ctx, batch)
			if err != nil {
				got <- n
				return
			}
			n += k
			ep.Release(batch[:k])
		}
	}()
	b.ReportAllocs()
	start := time.Now()
	sent := 0
	for b.Loop() {
		for k := 0; k < len(frames); {
			n := l.set[0].InjectBatch(frames[k:])
			if n == 0 {
				runtime.Gosched()
			}
			k += n
			sent += n
		}
	}
	d := time.Since(start)
	cancel()
	<-got
	b.ReportMetric(float64(d.Nanoseconds())/float64(sent), "ns/pkt")
}
