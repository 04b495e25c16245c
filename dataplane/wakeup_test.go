package dataplane

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// TestReceiveWakeups checks that no wake-up is lost: the worker signals an
// endpoint only when its readers may be parked (Endpoint.signalled), so
// several readers of one endpoint (Receive with small batches and a
// PacketConn) that park between bursts must still get every frame.
func TestReceiveWakeups(t *testing.T) {
	tests := []struct {
		name     string
		readers  int
		batch    int
		packetRd bool
		bursts   int
		burst    int
	}{
		{"one reader, batch 1", 1, 1, false, 200, 3},
		{"three readers, batch 2", 3, 2, false, 200, 7},
		{"readers and PacketConn", 2, 3, true, 200, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, 2, rxqtest.Options{NumFrames: 256, FrameSize: 2048}, Config{})
			if err := l.d.Start(); err != nil {
				t.Fatal(err)
			}
			ep := l.bind(udpSpec("198.18.0.1:53", false), EndpointOptions{})
			var got atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range tt.readers {
				wg.Go(func() {
					batch := make([]Frame, tt.batch)
					for {
						n, err := ep.Receive(ctx, batch)
						if err != nil {
							return
						}
						ep.Release(batch[:n])
						got.Add(int64(n))
					}
				})
			}
			if tt.packetRd {
				pc := ep.PacketConn()
				wg.Go(func() {
					buf := make([]byte, 64)
					for {
						if _, _, err := pc.ReadFrom(buf); err != nil {
							return
						}
						got.Add(1)
					}
				})
			}
			want := int64(0)
			deadline := time.Now().Add(10 * time.Second)
		send:
			for b := range tt.bursts {
				for i := range tt.burst {
					src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(b), byte(i)}), uint16(1024+b*16+i))
					f := packettest.UDP4(src, netip.MustParseAddrPort("198.18.0.1:53"), []byte("x"))
					for !l.inject(f) {
						// No free frame: the readers are behind (or stuck).
						if time.Now().After(deadline) {
							t.Errorf("burst %d: no free frame for 10 s", b)
							break send
						}
						time.Sleep(100 * time.Microsecond)
					}
					want++
				}
				if b%4 == 0 {
					time.Sleep(200 * time.Microsecond) // let the readers park
				}
			}
			for got.Load() != want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if g := got.Load(); g != want {
				t.Errorf("received %d of %d frames", g, want)
			}
			cancel()
			ep.Close()
			wg.Wait()
			if err := l.settle(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
