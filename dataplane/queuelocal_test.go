package dataplane

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// TestQueueLocalMembers: two queues, a group of four whose members i
// declare queue i mod 2, under every hash policy: each frame reaches a
// member of the queue it arrived on, and both members of a queue get some.
// Without declared queues, frames of a queue reach all four.
func TestQueueLocalMembers(t *testing.T) {
	for _, p := range []localgroup.Policy{localgroup.Threshold, localgroup.Modulo, localgroup.Maglev, localgroup.QUIC} {
		for _, local := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v/local=%v", p, local), func(t *testing.T) {
				l := newLab(t, 2, rxqtest.DefaultOptions(), Config{Table: pcb.Config{Policy: p}})
				if err := l.d.Start(); err != nil {
					t.Fatal(err)
				}
				eps := make([]*Endpoint, 4)
				for i := range eps {
					s := udpSpec("0.0.0.0:53", true)
					s.HasQueue, s.Queue = local, uint32(i%2)
					eps[i] = l.bind(s, EndpointOptions{})
				}
				rng := rand.New(rand.NewPCG(5, 6))
				dst := netip.MustParseAddrPort("198.18.0.1:53")
				const frames = 400
				for range frames {
					src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(rng.Uint32()), byte(rng.Uint32())}), uint16(1024+rng.IntN(60000)))
					for !l.inject(packettest.UDP4(src, dst, []byte("x"))) {
						time.Sleep(50 * time.Microsecond)
					}
				}
				if err := l.settle(); err != nil {
					t.Fatal(err)
				}
				// got[member][queue]
				var got [4][2]int
				total := 0
				batch := make([]Frame, 64)
				for i, ep := range eps {
					for {
						n := ep.TryReceive(batch)
						if n == 0 {
							break
						}
						for _, f := range batch[:n] {
							got[i][f.Queue]++
						}
						total += n
						ep.Release(batch[:n])
					}
				}
				if total != frames {
					t.Fatalf("received %d frames, want %d", total, frames)
				}
				for i := range got {
					for q := range got[i] {
						if local && q != i%2 && got[i][q] != 0 {
							t.Errorf("member %d (queue %d) got %d frames of queue %d", i, i%2, got[i][q], q)
						}
						if (!local || q == i%2) && got[i][q] == 0 {
							t.Errorf("member %d got no frame of queue %d: %v", i, q, got)
						}
					}
				}
			})
		}
	}
}
