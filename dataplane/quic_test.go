package dataplane

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/localgroup/quiclb"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rss"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// TestQUICRoutesByServerID drives the workers (2 queues) with QUIC
// short-header frames from random client addresses and ports: under the
// quic policy each reaches the member whose server ID (Endpoint.ServerID)
// its connection ID carries, whatever queue it came in on.
func TestQUICRoutesByServerID(t *testing.T) {
	l := newLab(t, 2, rxqtest.Options{NumFrames: 1024, FrameSize: 2048}, Config{RingSize: 1024})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	if err := l.d.SetPolicy(localgroup.QUIC); err != nil {
		t.Fatal(err)
	}
	var eps []*Endpoint
	for range 4 {
		eps = append(eps, l.bind(udpSpec("0.0.0.0:443", true), EndpointOptions{}))
	}
	lb := eps[0].QUICLayout()
	if lb != quiclb.DefaultConfig() {
		t.Errorf("QUICLayout = %+v, want the default %+v", lb, quiclb.DefaultConfig())
	}
	for i, ep := range eps {
		if sid, ok := ep.ServerID(); !ok || sid != uint32(i+1) {
			t.Fatalf("endpoint %d: ServerID = %d, %v, want %d", i, sid, ok, i+1)
		}
	}
	plain := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	if sid, ok := plain.ServerID(); ok {
		t.Errorf("endpoint outside a group: ServerID = %d, true", sid)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	const n = 400
	server := netip.MustParseAddrPort("198.18.0.1:443")
	want := make([]int, n) // frame -> member index
	queues := map[int]bool{}
	for i := range n {
		m := rng.IntN(len(eps))
		want[i] = m
		p := make([]byte, 1+lb.CIDLen+16)
		p[0] = 0x40
		lb.Encode(p[1:1+lb.CIDLen], uint32(m+1))
		binary.BigEndian.PutUint64(p[1+lb.CIDLen:], uint64(i))
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(rng.IntN(250))}), uint16(1024+rng.IntN(60000)))
		f := packettest.UDP4(src, server, p)
		queues[l.steer(f)] = true
		if !l.inject(f) {
			t.Fatalf("frame %d: no free frame", i)
		}
	}
	if len(queues) != 2 {
		t.Errorf("frames came in on %d queues, want 2", len(queues))
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	got := 0
	batch := make([]Frame, 64)
	for m, ep := range eps {
		for {
			k := ep.TryReceive(batch)
			if k == 0 {
				break
			}
			for _, f := range batch[:k] {
				i := binary.BigEndian.Uint64(f.Payload[1+lb.CIDLen:])
				if want[i] != m {
					t.Errorf("frame %d: delivered to member %d, want %d", i, m, want[i])
				}
			}
			got += k
			ep.Release(batch[:k])
		}
	}
	if got != n {
		t.Errorf("delivered %d frames, want %d", got, n)
	}
}

// FuzzClassifyQUIC: Classify never panics under the quic policy, and a
// frame it routes by server ID goes to a member of the group.
func FuzzClassifyQUIC(f *testing.F) {
	tz, err := rss.NewToeplitz(rss.DefaultKey[:])
	if err != nil {
		f.Fatal(err)
	}
	cfg := pcb.DefaultConfig()
	cfg.Queues = 2
	cfg.Policy = localgroup.QUIC
	table, err := pcb.NewTable(cfg)
	if err != nil {
		f.Fatal(err)
	}
	for id := pcb.EndpointID(1); id <= 3; id++ {
		if err := table.Bind(id, udpSpec("0.0.0.0:443", true)); err != nil {
			f.Fatal(err)
		}
	}
	lb := quiclb.DefaultConfig()
	src, dst := netip.MustParseAddrPort("198.18.1.1:5000"), netip.MustParseAddrPort("198.18.0.1:443")
	for sid := uint32(1); sid <= 4; sid++ {
		p := make([]byte, 1+lb.CIDLen+8)
		p[0] = 0x41
		lb.Encode(p[1:1+lb.CIDLen], sid)
		f.Add(packettest.UDP4(src, dst, p))
		f.Add(packettest.UDP6(netip.MustParseAddrPort("[2001:2::1]:5000"), netip.MustParseAddrPort("[2001:2::2]:443"), p))
	}
	f.Add(packettest.UDP4(src, dst, []byte{0xc0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8}))
	var tuple packet.Tuple
	f.Fuzz(func(t *testing.T, frame []byte) {
		_, id, reason := Classify(tz, table, frame, &tuple)
		if reason != packet.OK && id != 0 {
			t.Fatalf("malformed frame (%v) matched endpoint %d", reason, id)
		}
		if id > 3 {
			t.Fatalf("endpoint %d is not bound", id)
		}
	})
}
