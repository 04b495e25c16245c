package dataplane

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// swapMACs returns a copy of frame's first n bytes with the MACs swapped:
// the link header an answer to frame carries.
func swapMACs(frame []byte, n int) []byte {
	h := append([]byte(nil), frame[:n]...)
	copy(h[0:6], frame[6:12])
	copy(h[6:12], frame[0:6])
	return h
}

// TestFrameIP: Frame.IP is the IP packet, without the link header or the
// Ethernet padding, for every link header the parser accepts.
func TestFrameIP(t *testing.T) {
	peer4 := netip.MustParseAddrPort("198.19.7.9:40001")
	local4 := netip.MustParseAddrPort("198.18.0.1:53")
	peer6 := netip.MustParseAddrPort("[2001:2::9]:40002")
	local6 := netip.MustParseAddrPort("[2001:2::1]:53")
	macs := packettest.MACs(peerMAC, localMAC)
	tests := []struct {
		name  string
		frame []byte
		l2    int
		ipLen int
	}{
		{"v4 padded", packettest.UDP4(peer4, local4, []byte("x"), macs), 14, 29},
		{"v4 0x9100", packettest.UDP4(peer4, local4, []byte("hello"), macs, packettest.Tag(packettest.TPID9100, 5)), 18, 33},
		{"v4 qinq", packettest.UDP4(peer4, local4, []byte("hello"), macs, packettest.QinQ(5, 7)), 22, 33},
		{"v6", packettest.UDP6(peer6, local6, []byte("hello"), macs), 14, 53},
		{"v6 0x9100+8100", packettest.UDP6(peer6, local6, []byte("hello"), macs,
			packettest.Tag(packettest.TPID9100, 5), packettest.VLAN(6)), 22, 53},
	}
	l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{})
	ep4 := l.bind(udpSpec("198.18.0.1:53", false), EndpointOptions{})
	ep6 := l.bind(udpSpec("[2001:2::1]:53", false), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !l.inject(tc.frame) {
				t.Fatal("inject: no free frame")
			}
			ep := ep4
			if strings.HasPrefix(tc.name, "v6") {
				ep = ep6
			}
			f := receiveOne(t, ep)
			ip := f.IP()
			if want := tc.frame[tc.l2 : tc.l2+tc.ipLen]; !bytes.Equal(ip, want) {
				t.Errorf("IP: got %d bytes % x, want %d bytes % x", len(ip), ip, len(want), want)
			}
			if cap(ip) != len(ip) {
				t.Errorf("IP: cap %d, want %d (no view of the padding)", cap(ip), len(ip))
			}
			batch := []Frame{f}
			ep.Release(batch)
			if got := batch[0].IP(); got != nil {
				t.Errorf("IP of a released frame: %d bytes, want nil", len(got))
			}
		})
	}
	var zero Frame
	if zero.IP() != nil {
		t.Error("IP of a zero Frame is not nil")
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
}

// TestSendIP: an IP packet goes out behind the link header its destination's
// frame taught the endpoint (MACs swapped, every tag kept), on the queue
// asked for or, with PeerQueue, the one the peer's frame came in on.
func TestSendIP(t *testing.T) {
	peer4 := netip.MustParseAddrPort("198.19.7.9:40001")
	local4 := netip.MustParseAddrPort("198.18.0.1:80")
	peer6 := netip.MustParseAddrPort("[2001:2::9]:40002")
	local6 := netip.MustParseAddrPort("[2001:2::1]:80")
	macs := packettest.MACs(peerMAC, localMAC)
	tests := []struct {
		name  string
		frame []byte // what the peer sent
		l2    int
		queue int // SendIP's
		reply []byte
	}{
		{"v4", packettest.TCP4(peer4, local4, nil, macs, packettest.SYN()), 14, PeerQueue,
			packettest.TCP4(local4, peer4, []byte("answer"))[14:]},
		{"v4 0x9100", packettest.TCP4(peer4, local4, nil, macs, packettest.SYN(), packettest.Tag(packettest.TPID9100, 100)), 18, PeerQueue,
			packettest.TCP4(local4, peer4, []byte("answer"))[14:]},
		{"v4 qinq 88a8+8100", packettest.TCP4(peer4, local4, nil, macs, packettest.SYN(), packettest.QinQ(5, 7)), 22, PeerQueue,
			packettest.TCP4(local4, peer4, []byte("answer"))[14:]},
		{"v4 0x9100+8100 other queue", packettest.TCP4(peer4, local4, nil, macs, packettest.SYN(),
			packettest.Tag(packettest.TPID9100, 5), packettest.VLAN(6)), 22, -2, // -2: the queue the frame did not use
			packettest.TCP4(local4, peer4, bytes.Repeat([]byte("b"), 1400))[14:]},
		{"v6 qinq", packettest.TCP6(peer6, local6, nil, macs, packettest.SYN(), packettest.QinQ(5, 7)), 22, PeerQueue,
			packettest.TCP6(local6, peer6, []byte("answer"))[14:]},
	}
	l := newLab(t, 2, txOpts(), Config{})
	ep4 := l.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	ep6 := l.bind(tcpSpec("[2001:2::1]:80", false), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := l.steer(tc.frame)
			if !l.set[in].Inject(tc.frame) {
				t.Fatal("inject: no free frame")
			}
			ep := ep4
			if strings.HasPrefix(tc.name, "v6") {
				ep = ep6
			}
			f := receiveOne(t, ep)
			ep.Release([]Frame{f})
			out := in
			if tc.queue == -2 {
				out = 1 - in
			}
			q := tc.queue
			if q == -2 {
				q = out
			}
			pkt := append([]byte(nil), tc.reply...)
			if err := ep.SendIP(q, pkt); err != nil {
				t.Fatalf("send ip: %v", err)
			}
			clear(pkt) // SendIP copied
			sent := takeSent(t, l.set[out], 1)
			want := append(swapMACs(tc.frame, tc.l2), tc.reply...)
			if !bytes.Equal(sent[0], want) {
				t.Errorf("queue %d sent\n% x\nwant\n% x", out, sent[0], want)
			}
			if other := l.set[1-out].TakeSent(nil); other != 0 {
				t.Errorf("queue %d sent %d frames, want 0", 1-out, other)
			}
			// AppendFrame builds the same frame, into the caller's buffer.
			buf := make([]byte, 3, 2048)
			got, gq, err := ep.AppendFrame(buf, tc.reply)
			if err != nil || gq != in || !bytes.Equal(got[3:], want) || &got[0] != &buf[0] {
				t.Errorf("append frame: queue %d, err %v, same frame %v, in place %v; want queue %d",
					gq, err, bytes.Equal(got[3:], want), &got[0] == &buf[0], in)
			}
			for _, s := range l.set {
				s.Wake()
			}
			waitTX(t, l.d, 0)
			if err := l.settle(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSendIPErrors(t *testing.T) {
	peer := netip.MustParseAddrPort("198.19.7.9:40001")
	local := netip.MustParseAddrPort("198.18.0.1:80")
	syn := packettest.TCP4(peer, local, nil, packettest.MACs(peerMAC, localMAC), packettest.SYN())
	reply := packettest.TCP4(local, peer, nil)[14:]
	toStranger := packettest.TCP4(local, netip.MustParseAddrPort("198.19.7.10:1"), nil)[14:]

	l := newLab(t, 1, txOpts(), Config{})
	ep := l.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	closed := l.bind(tcpSpec("198.18.0.2:80", false), EndpointOptions{})
	noTX := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{})
	noTXEp := noTX.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	for _, x := range []*lab{l, noTX} {
		if err := x.d.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range []struct {
		l  *lab
		ep *Endpoint
	}{{l, ep}, {noTX, noTXEp}} {
		x.l.set[0].Inject(syn)
		f := receiveOne(t, x.ep)
		x.ep.Release([]Frame{f})
	}
	closed.Close()
	tests := []struct {
		name    string
		ep      *Endpoint
		queue   int
		pkt     []byte
		want    error  // nil: check the message
		wantMsg string // in the error
	}{
		{"unknown peer", ep, PeerQueue, toStranger, ErrUnknownPeer, "send ip"},
		{"empty", ep, 0, nil, nil, "not an IPv4 or IPv6 packet"},
		{"short v4", ep, 0, reply[:19], nil, "not an IPv4 or IPv6 packet"},
		{"version 5", ep, 0, append([]byte{0x50}, reply[1:]...), nil, "not an IPv4 or IPv6 packet"},
		{"queue 1 of 1", ep, 1, reply, nil, "queue 1 out of range"},
		{"queue -3", ep, -3, reply, nil, "queue -3 out of range"},
		{"too long", ep, 0, make([]byte, 2048-13), ErrMessageTooLong, "queue 0"},
		{"closed", closed, 0, reply, ErrClosed, "send ip"},
		{"no TX ring", noTXEp, PeerQueue, reply, ErrNotSupported, "send ip"},
	}
	tests[6].pkt[0] = 0x45
	copy(tests[6].pkt[16:20], reply[16:20])
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ep.SendIP(tc.queue, tc.pkt)
			if err == nil {
				t.Fatal("got nil error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("got %q, want it to contain %q", err, tc.wantMsg)
			}
		})
	}
	if _, _, err := ep.AppendFrame(nil, toStranger); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("append frame to a stranger: got %v, want %v", err, ErrUnknownPeer)
	}
	if _, _, err := closed.AppendFrame(nil, reply); !errors.Is(err, ErrClosed) {
		t.Errorf("append frame on a closed endpoint: got %v, want %v", err, ErrClosed)
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	for _, s := range l.d.TXStats() {
		if s.Sent != 0 || s.Dropped != 0 {
			t.Errorf("queue %d TX stats: %+v, want nothing sent", s.Queue, s)
		}
	}
}

// TestSendIPAllocs: a round of SendIP calls (one to an unknown peer, which
// netstackep meets per packet) and the worker's drain, transmit and
// completion allocates nothing; so does AppendFrame into a buffer with room.
func TestSendIPAllocs(t *testing.T) {
	peer := netip.MustParseAddrPort("198.19.7.9:40001")
	local := netip.MustParseAddrPort("198.18.0.1:80")
	l := newLab(t, 1, txOpts(), Config{})
	ep := l.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	w := l.d.workers[0]
	l.set[0].Inject(packettest.TCP4(peer, local, nil, packettest.MACs(peerMAC, localMAC), packettest.SYN(), packettest.QinQ(5, 7)))
	w.poll()
	batch := make([]Frame, 1)
	if n := ep.TryReceive(batch); n != 1 {
		t.Fatalf("received %d frames, want 1", n)
	}
	ep.Release(batch)
	var pkts [][]byte
	for i := range 16 {
		pkts = append(pkts, packettest.TCP4(local, peer, make([]byte, i*80))[14:])
	}
	stranger := packettest.TCP4(local, netip.MustParseAddrPort("198.19.7.10:1"), nil)[14:]
	buf := make([]byte, 0, 2048)
	round := func() {
		for _, p := range pkts {
			if err := ep.SendIP(PeerQueue, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := ep.SendIP(PeerQueue, stranger); !errors.Is(err, ErrUnknownPeer) {
			t.Fatal(err)
		}
		if _, _, err := ep.AppendFrame(buf[:0], pkts[3]); err != nil {
			t.Fatal(err)
		}
		w.collectReturns()
		w.flush()
		if got := l.set[0].TakeSent(nil); got != len(pkts) {
			t.Fatalf("sent %d, want %d", got, len(pkts))
		}
		w.flush()
	}
	round()
	if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
		t.Errorf("send ip round: %v allocs, want 0", allocs)
	}
	if err := l.d.CheckFrames(); err != nil {
		t.Fatal(err)
	}
	if w.tx.inflight != 0 {
		t.Errorf("in flight after completion: %d", w.tx.inflight)
	}
}

// TestPeerCacheSize: EndpointOptions.PeerCacheSize sizes the cache (rounded
// up to a power of two), GrowPeerCache enlarges it keeping what was
// learned, and out-of-range sizes are refused.
func TestPeerCacheSize(t *testing.T) {
	l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{})
	for _, tc := range []struct {
		size, want int
	}{{0, DefaultPeerCacheSize}, {1, 1}, {3, 4}, {1000, 1024}, {4096, 4096}, {MaxPeerCacheSize, MaxPeerCacheSize}} {
		ep := l.bind(udpSpec("198.18.0.1:53", false), EndpointOptions{PeerCacheSize: tc.size})
		if got := ep.PeerCacheSize(); got != tc.want {
			t.Errorf("PeerCacheSize %d: got %d slots, want %d", tc.size, got, tc.want)
		}
		ep.Close()
	}
	for _, n := range []int{-1, MaxPeerCacheSize + 1} {
		if _, err := l.d.Bind(udpSpec("198.18.0.1:53", false), EndpointOptions{PeerCacheSize: n}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("PeerCacheSize %d: got %v, want %v", n, err, ErrInvalidConfig)
		}
	}
	ep := l.bind(udpSpec("198.18.0.1:53", false), EndpointOptions{PeerCacheSize: 1})
	if err := ep.GrowPeerCache(-1); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("grow to -1: got %v, want %v", err, ErrInvalidConfig)
	}
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddrPort("198.19.7.9:40001")
	l.inject(packettest.UDP4(peer, netip.MustParseAddrPort("198.18.0.1:53"), []byte("q"), packettest.MACs(peerMAC, localMAC)))
	f := receiveOne(t, ep)
	ep.Release([]Frame{f})
	for _, n := range []int{4000, 16, 0} { // grows to 4096, then never shrinks
		if err := ep.GrowPeerCache(n); err != nil {
			t.Fatal(err)
		}
		if got := ep.PeerCacheSize(); got != 4096 {
			t.Errorf("after GrowPeerCache(%d): %d slots, want 4096", n, got)
		}
		if _, _, err := ep.AppendFrame(nil, packettest.UDP4(netip.MustParseAddrPort("198.18.0.1:53"), peer, nil)[14:]); err != nil {
			t.Errorf("after GrowPeerCache(%d): the peer is forgotten: %v", n, err)
		}
	}
	ep.Close()
	if err := ep.GrowPeerCache(8192); !errors.Is(err, ErrClosed) {
		t.Errorf("grow a closed endpoint: got %v, want %v", err, ErrClosed)
	}
}

// TestPeerCacheRandom checks the cache against a naive model: a map from
// slot to the last peer learned there, over random peers, link headers,
// queues and sizes, with grows in between.
func TestPeerCacheRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		c := newPeerCache(1 << rng.IntN(8))
		type want struct {
			l2    []byte
			queue int
		}
		model := make(map[netip.Addr]want)
		var addrs []netip.Addr
		for i := range 2000 {
			if rng.IntN(500) == 0 {
				c.grow(len(c.e) * 2)
				// The model keeps what the new table kept: rebuild it
				// from the table, which TestPeerCacheSize checks keeps a
				// lone peer.
				model = make(map[netip.Addr]want)
				for _, p := range c.e {
					if p.l2Len != 0 {
						model[p.peer] = want{append([]byte(nil), p.l2[:p.l2Len]...), int(p.queue)}
					}
				}
			}
			var a netip.Addr
			if len(addrs) > 0 && rng.IntN(3) == 0 {
				a = addrs[rng.IntN(len(addrs))]
			} else if rng.IntN(4) == 0 {
				a = netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 14: byte(i >> 8), 15: byte(i)})
			} else {
				a = netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
			}
			addrs = append(addrs, a)
			var opts []packettest.Option
			l2 := 14
			switch rng.IntN(3) {
			case 1:
				opts = append(opts, packettest.Tag(packettest.TPID9100, uint16(rng.IntN(4095))))
				l2 += 4
			case 2:
				opts = append(opts, packettest.QinQ(uint16(rng.IntN(4095)), uint16(rng.IntN(4095))))
				l2 += 8
			}
			src := netip.AddrPortFrom(a, 1000)
			var frame []byte
			if a.Is4() {
				frame = packettest.UDP4(src, netip.MustParseAddrPort("198.18.0.1:53"), nil, opts...)
			} else {
				frame = packettest.UDP6(src, netip.MustParseAddrPort("[2001:2::1]:53"), nil, opts...)
			}
			q := rng.IntN(4)
			f := Frame{Data: frame, Src: src, Queue: q, l3: uint16(l2)}
			c.learn(&f)
			for b := range model {
				if c.index(b) == c.index(a) {
					delete(model, b)
				}
			}
			model[a] = want{swapMACs(frame, l2), q}
		}
		for _, a := range addrs {
			p, ok := c.lookup(a)
			w, inModel := model[a]
			if ok != inModel {
				t.Fatalf("round %d: lookup %v: found %v, model %v", round, a, ok, inModel)
			}
			if ok && (!bytes.Equal(p.l2[:p.l2Len], w.l2) || int(p.queue) != w.queue) {
				t.Fatalf("round %d: lookup %v: got % x queue %d, want % x queue %d",
					round, a, p.l2[:p.l2Len], p.queue, w.l2, w.queue)
			}
		}
	}
}
