package dataplane

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rss"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

const testOwner = pcb.Owner("test")

// lab is a dataplane over rxqtest sources with simulated RSS.
type lab struct {
	t   testing.TB
	set []*rxqtest.Source
	d   *Dataplane
	tz  *rss.Toeplitz
	rss *rss.RSS
}

func newLab(t testing.TB, nq int, opts rxqtest.Options, cfg Config) *lab {
	t.Helper()
	set, err := rxqtest.NewSet(nq, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sources = rxqtest.Sources(set)
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tz, err := rss.NewToeplitz(rss.DefaultKey[:])
	if err != nil {
		t.Fatal(err)
	}
	steer, err := rss.NewRSS(nq)
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, set: set, d: d, tz: tz, rss: steer}
	t.Cleanup(func() {
		d.Close()
		for _, s := range set {
			s.Close()
		}
	})
	return l
}

// steer returns the queue simulated RSS puts frame on. Frames that do not
// parse go to queue 0.
func (l *lab) steer(frame []byte) int {
	var t packet.Tuple
	if packet.Parse(frame, &t) != packet.OK {
		return 0
	}
	return l.rss.Queue(Hash(l.tz, frame, &t))
}

// inject puts frame on its RSS queue, reporting whether a frame was free.
func (l *lab) inject(frame []byte) bool {
	return l.set[l.steer(frame)].Inject(frame)
}

// settle waits until every source's rx queue is empty and every worker has
// finished the batch it was in (CheckFrames is a barrier), and returns
// CheckFrames' verdict.
func (l *lab) settle() error {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range l.set {
		for s.FrameStats().RX > 0 {
			if time.Now().After(deadline) {
				l.t.Fatalf("queue %d: rx not drained", s.Queue())
			}
			time.Sleep(time.Millisecond)
		}
	}
	return l.d.CheckFrames()
}

func (l *lab) bind(spec pcb.Spec, opts EndpointOptions) *Endpoint {
	l.t.Helper()
	ep, err := l.d.Bind(spec, opts)
	if err != nil {
		l.t.Fatalf("bind %v: %v", spec, err)
	}
	return ep
}

// releaseAll takes every frame queued on eps, a batch at a time, and
// releases it.
func releaseAll(eps []*Endpoint, batch []Frame) {
	for _, ep := range eps {
		for n := ep.TryReceive(batch); n > 0; n = ep.TryReceive(batch) {
			ep.Release(batch[:n])
		}
	}
}

func udpSpec(s string, reuse bool) pcb.Spec {
	return pcb.Spec{Proto: pcb.UDP, Local: netip.MustParseAddrPort(s), ReusePort: reuse, Owner: testOwner}
}

func tcpSpec(s string, reuse bool) pcb.Spec {
	sp := udpSpec(s, reuse)
	sp.Proto = pcb.TCP
	return sp
}

var (
	v4Dsts = []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")}
	v6Dsts = []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")}
	ports  = []uint16{53, 53, 53, 80, 443, 5000, 9999}
)

// genFrame returns a random frame whose payload carries idx: UDP or TCP over
// IPv4 or IPv6 to a few addresses and ports, with some malformed frames
// mixed in when bad is set.
func genFrame(rng *rand.Rand, idx uint64, bad bool) []byte {
	var payload [8]byte
	binary.BigEndian.PutUint64(payload[:], idx)
	if bad && rng.IntN(20) == 0 {
		f := packettest.UDP4(netip.MustParseAddrPort("198.19.0.1:1"), netip.MustParseAddrPort("198.18.0.1:53"), payload[:])
		if rng.IntN(2) == 0 {
			return f[:20] // truncated
		}
		f[12], f[13] = 0x88, 0xb5 // unknown ethertype
		return f
	}
	dport := ports[rng.IntN(len(ports))]
	sport := uint16(1024 + rng.IntN(60000))
	if rng.IntN(4) == 0 {
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 15: byte(rng.Uint32())})
		dst := v6Dsts[rng.IntN(len(v6Dsts))]
		if rng.IntN(5) == 0 {
			return packettest.TCP6(netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport), payload[:])
		}
		return packettest.UDP6(netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport), payload[:])
	}
	src := netip.AddrFrom4([4]byte{198, 19, byte(rng.Uint32()), byte(rng.Uint32())})
	dst := v4Dsts[rng.IntN(len(v4Dsts))]
	if rng.IntN(5) == 0 {
		return packettest.TCP4(netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport), payload[:])
	}
	return packettest.UDP4(netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport), payload[:])
}

func payloadIndex(f *Frame) uint64 { return binary.BigEndian.Uint64(f.Payload) }
