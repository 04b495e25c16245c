package dataplane

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

var (
	peerMAC  = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 0x01}
	localMAC = net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 0x02}
)

func txOpts() rxqtest.Options {
	return rxqtest.Options{NumFrames: 256, FrameSize: 2048, TXRingSize: 64}
}

// receiveOne waits for one frame on ep.
func receiveOne(t *testing.T, ep *Endpoint) Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	batch := make([]Frame, 1)
	if _, err := ep.Receive(ctx, batch); err != nil {
		t.Fatalf("receive: %v", err)
	}
	return batch[0]
}

// takeSent waits until src has sent n frames and returns copies of them.
func takeSent(t *testing.T, src *rxqtest.Source, n int) [][]byte {
	t.Helper()
	var out [][]byte
	deadline := time.Now().Add(5 * time.Second)
	for len(out) < n {
		src.TakeSent(func(b []byte) { out = append(out, append([]byte(nil), b...)) })
		if len(out) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sent %d frames, want %d", len(out), n)
		}
		time.Sleep(time.Millisecond)
	}
	return out
}

// checkUDP decodes frame and checks what a reply from src to dst carrying
// payload must be: MACs, addresses, ports, lengths and both checksums.
func checkUDP(t *testing.T, frame []byte, src, dst netip.AddrPort, payload []byte, vlans int) {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil && p.Layer(layers.LayerTypeUDP) == nil {
		// Port 53 makes gopacket try DNS on the test payloads: only a
		// failure below UDP counts.
		t.Fatalf("decode: %v", el.Error())
	}
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(eth.SrcMAC, localMAC) || !bytes.Equal(eth.DstMAC, peerMAC) {
		t.Errorf("MACs: got %v -> %v, want %v -> %v", eth.SrcMAC, eth.DstMAC, localMAC, peerMAC)
	}
	if got := countDot1Q(p); got != vlans {
		t.Errorf("VLAN tags: got %d, want %d (%v)", got, vlans, p.Layers())
	}
	var pseudo []byte
	var ipPayloadLen int
	if l := p.Layer(layers.LayerTypeIPv4); l != nil {
		ip := l.(*layers.IPv4)
		if got, want := ip.SrcIP.String(), src.Addr().String(); got != want {
			t.Errorf("IPv4 src: got %s, want %s", got, want)
		}
		if got, want := ip.DstIP.String(), dst.Addr().String(); got != want {
			t.Errorf("IPv4 dst: got %s, want %s", got, want)
		}
		if c := naiveSum(ip.Contents); c != 0xffff {
			t.Errorf("IPv4 header checksum: sum %#04x, want 0xffff", c)
		}
		if int(ip.Length) != len(ip.Contents)+len(ip.Payload) {
			t.Errorf("IPv4 length %d, header+payload %d", ip.Length, len(ip.Contents)+len(ip.Payload))
		}
		pseudo = append(append([]byte(nil), ip.SrcIP.To4()...), ip.DstIP.To4()...)
		ipPayloadLen = len(ip.Payload)
	} else if l := p.Layer(layers.LayerTypeIPv6); l != nil {
		ip := l.(*layers.IPv6)
		if got, want := ip.SrcIP.String(), src.Addr().String(); got != want {
			t.Errorf("IPv6 src: got %s, want %s", got, want)
		}
		if got, want := ip.DstIP.String(), dst.Addr().String(); got != want {
			t.Errorf("IPv6 dst: got %s, want %s", got, want)
		}
		pseudo = append(append([]byte(nil), ip.SrcIP.To16()...), ip.DstIP.To16()...)
		ipPayloadLen = len(ip.Payload)
	} else {
		t.Fatalf("no IP layer in %v", p.Layers())
	}
	udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if !ok {
		t.Fatalf("no UDP layer in %v", p.Layers())
	}
	if udp.SrcPort != layers.UDPPort(src.Port()) || udp.DstPort != layers.UDPPort(dst.Port()) {
		t.Errorf("ports: got %d -> %d, want %d -> %d", udp.SrcPort, udp.DstPort, src.Port(), dst.Port())
	}
	if int(udp.Length) != 8+len(payload) || ipPayloadLen != 8+len(payload) {
		t.Errorf("UDP length %d (IP payload %d), want %d", udp.Length, ipPayloadLen, 8+len(payload))
	}
	if !bytes.Equal(udp.Payload, payload) {
		t.Errorf("payload: got %q, want %q", udp.Payload, payload)
	}
	if udp.Checksum == 0 {
		t.Errorf("UDP checksum is 0 (none)")
	}
	var ph [4]byte
	binary.BigEndian.PutUint16(ph[2:], udp.Length)
	pseudo = append(append(pseudo, 0, 17), ph[2:]...)
	whole := append(append(pseudo, udp.Contents...), udp.Payload...)
	if c := naiveSum(whole); c != 0xffff {
		t.Errorf("UDP checksum %#04x: sum %#04x, want 0xffff", udp.Checksum, c)
	}
}

func countDot1Q(p gopacket.Packet) int {
	n := 0
	for _, l := range p.Layers() {
		if l.LayerType() == layers.LayerTypeDot1Q {
			n++
		}
	}
	return n
}

// naiveSum is the one's-complement sum of b, 16 bits at a time.
func naiveSum(b []byte) uint16 {
	var s uint32
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		s += w
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func TestReply(t *testing.T) {
	peer4 := netip.MustParseAddrPort("198.19.7.9:40001")
	local4 := netip.MustParseAddrPort("198.18.0.1:53")
	peer6 := netip.MustParseAddrPort("[2001:db8:ff::9]:40002")
	local6 := netip.MustParseAddrPort("[2001:db8::1]:53")
	long := bytes.Repeat([]byte("x"), 1900) // does not fit behind the request
	tests := []struct {
		name      string
		bind      string
		frame     []byte
		local     netip.AddrPort
		peer      netip.AddrPort
		vlans     int
		reply     []byte // nil: echo f.Payload in place
		frameSize int
	}{
		{name: "v4 echo in place", bind: "0.0.0.0:53", local: local4, peer: peer4,
			frame: packettest.UDP4(peer4, local4, []byte("query"), packettest.MACs(peerMAC, localMAC))},
		{name: "v4 longer answer", bind: "198.18.0.1:53", local: local4, peer: peer4, reply: []byte("a longer answer than the query"),
			frame: packettest.UDP4(peer4, local4, []byte("q"), packettest.MACs(peerMAC, localMAC))},
		{name: "v4 shorter answer", bind: "0.0.0.0:53", local: local4, peer: peer4, reply: []byte("odd"),
			frame: packettest.UDP4(peer4, local4, bytes.Repeat([]byte("q"), 200), packettest.MACs(peerMAC, localMAC))},
		{name: "v4 vlan", bind: "0.0.0.0:53", local: local4, peer: peer4, vlans: 1, reply: []byte("tagged"),
			frame: packettest.UDP4(peer4, local4, []byte("q"), packettest.MACs(peerMAC, localMAC), packettest.VLAN(7))},
		{name: "v4 qinq", bind: "0.0.0.0:53", local: local4, peer: peer4, vlans: 2, reply: []byte("double"),
			frame: packettest.UDP4(peer4, local4, []byte("q"), packettest.MACs(peerMAC, localMAC), packettest.QinQ(5, 7))},
		{name: "v4 copy path", bind: "0.0.0.0:53", local: local4, peer: peer4, reply: long,
			frame: packettest.UDP4(peer4, local4, []byte("q"), packettest.MACs(peerMAC, localMAC))},
		{name: "v6 echo in place", bind: "[::]:53", local: local6, peer: peer6,
			frame: packettest.UDP6(peer6, local6, []byte("query6"), packettest.MACs(peerMAC, localMAC))},
		{name: "v6 answer", bind: "[2001:db8::1]:53", local: local6, peer: peer6, reply: []byte("answer over IPv6, odd length"),
			frame: packettest.UDP6(peer6, local6, []byte("q"), packettest.MACs(peerMAC, localMAC))},
		{name: "v6 copy path", bind: "[::]:53", local: local6, peer: peer6, reply: long,
			frame: packettest.UDP6(peer6, local6, []byte("q"), packettest.MACs(peerMAC, localMAC))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, 1, txOpts(), Config{})
			ep := l.bind(udpSpec(tc.bind, false), EndpointOptions{})
			if err := l.d.Start(); err != nil {
				t.Fatal(err)
			}
			if !l.set[0].Inject(tc.frame) {
				t.Fatal("inject failed")
			}
			f := receiveOne(t, ep)
			want := tc.reply
			if want == nil {
				want = append([]byte(nil), f.Payload...)
				if err := ep.Reply(&f, f.Payload); err != nil {
					t.Fatalf("reply: %v", err)
				}
			} else if err := ep.Reply(&f, want); err != nil {
				t.Fatalf("reply: %v", err)
			}
			if f.Data != nil {
				t.Error("Reply did not clear the frame")
			}
			sent := takeSent(t, l.set[0], 1)
			checkUDP(t, sent[0], tc.local, tc.peer, want, tc.vlans)
			waitTX(t, l.d, 0)
			if err := l.settle(); err != nil {
				t.Fatal(err)
			}
			if st := l.d.TXStats()[0]; st.Sent != 1 || st.Dropped != 0 || !st.Supported {
				t.Errorf("TX stats: got %+v, want 1 sent, 0 dropped", st)
			}
		})
	}
}

// waitTX waits until no frame of d is in flight beyond want.
func waitTX(t *testing.T, d *Dataplane, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		for _, s := range d.TXStats() {
			n += s.InFlight
		}
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d frames in flight, want %d", n, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReplyAccounting sends replies in bursts while frames are in flight
// and checks that the frame accounting stays exact at every step and that
// every frame comes back through the completion ring.
func TestReplyAccounting(t *testing.T) {
	l := newLab(t, 2, txOpts(), Config{})
	ep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddrPort("198.18.0.1:53")
	const n = 40
	for round := range 5 {
		for i := range n {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(round), byte(i)}), uint16(1000+i))
			if !l.inject(packettest.UDP4(src, local, []byte{byte(i)}, packettest.MACs(peerMAC, localMAC))) {
				t.Fatal("inject failed")
			}
		}
		got := 0
		batch := make([]Frame, 16)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for got < n {
			k, err := ep.Receive(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			for i := range batch[:k] {
				if err := ep.Reply(&batch[i], batch[i].Payload); err != nil {
					t.Fatal(err)
				}
			}
			got += k
		}
		cancel()
		// Frames now sit on the TX rings, unsent: the accounting must
		// count them.
		waitTX(t, l.d, n)
		if err := l.d.CheckFrames(); err != nil {
			t.Fatalf("round %d, frames in flight: %v", round, err)
		}
		sent := 0
		for _, s := range l.set {
			sent += s.TakeSent(nil)
		}
		if sent != n {
			t.Fatalf("round %d: sent %d, want %d", round, sent, n)
		}
		for _, s := range l.set {
			s.Wake()
		}
		waitTX(t, l.d, 0)
		if err := l.settle(); err != nil {
			t.Fatalf("round %d, after completion: %v", round, err)
		}
	}
	for _, s := range l.set {
		if st := s.FrameStats(); st.Fill != st.Total {
			t.Errorf("queue %d: %d of %d frames in the fill ring", s.Queue(), st.Fill, st.Total)
		}
	}
}

func TestWriteTo(t *testing.T) {
	l := newLab(t, 2, txOpts(), Config{})
	ep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddrPort("198.19.1.2:5353")
	local := netip.MustParseAddrPort("198.18.0.3:53")
	if err := ep.WriteTo([]byte("x"), peer); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("write to an unknown peer: got %v, want ErrUnknownPeer", err)
	}
	frame := packettest.UDP4(peer, local, []byte("hello"), packettest.MACs(peerMAC, localMAC))
	q := l.steer(frame)
	l.set[q].Inject(frame)
	f := receiveOne(t, ep)
	ep.Release([]Frame{f})
	msgs := []Message{
		{Payload: []byte("one"), Addr: peer},
		{Payload: []byte("two"), Addr: netip.AddrPortFrom(netip.AddrFrom16(peer.Addr().As16()), peer.Port())}, // v4-mapped
		{Payload: []byte("three"), Addr: netip.AddrPortFrom(peer.Addr(), 7)},
	}
	if n, err := ep.WriteBatch(msgs); n != len(msgs) || err != nil {
		t.Fatalf("write batch: got %d, %v, want %d, nil", n, err, len(msgs))
	}
	sent := takeSent(t, l.set[q], len(msgs))
	for i, m := range msgs {
		checkUDP(t, sent[i], local, netip.AddrPortFrom(peer.Addr(), m.Addr.Port()), m.Payload, 0)
	}
	if _, err := ep.WriteBatch([]Message{{Payload: make([]byte, 2048), Addr: peer}}); !errors.Is(err, ErrMessageTooLong) {
		t.Errorf("write of 2048 bytes: got %v, want ErrMessageTooLong", err)
	}
	waitTX(t, l.d, 0)
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	ep.Close()
	if err := ep.WriteTo([]byte("x"), peer); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: got %v, want ErrClosed", err)
	}
}

// TestNoTX: a source without a TX ring cannot reply; the frame is released
// anyway.
func TestNoTX(t *testing.T) {
	l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{})
	ep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddrPort("198.19.1.2:5353")
	l.set[0].Inject(packettest.UDP4(peer, netip.MustParseAddrPort("198.18.0.1:53"), []byte("q")))
	f := receiveOne(t, ep)
	if err := ep.Reply(&f, []byte("a")); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("reply: got %v, want ErrNotSupported", err)
	}
	if err := ep.WriteTo([]byte("a"), peer); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("write to: got %v, want ErrNotSupported", err)
	}
	if err := ep.Reply(&f, nil); !errors.Is(err, ErrNoFrame) {
		t.Fatalf("second reply: got %v, want ErrNoFrame", err)
	}
	tcp := l.bind(tcpSpec("0.0.0.0:80", false), EndpointOptions{})
	if err := tcp.WriteTo([]byte("a"), peer); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("TCP write to: got %v, want ErrNotSupported", err)
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	if st := l.d.TXStats()[0]; st.Supported {
		t.Errorf("TX stats: got %+v, want unsupported", st)
	}
}

// noCanTX hides rxqtest's CanTransmit, as an rxq.Socket without a TX ring
// would look: the worker finds out on the first transmit.
type noCanTX struct{ *rxqtest.Source }

func (noCanTX) CanTransmit() {} // a different signature: not a canTransmitter

// TestTXDiscovered: a Transmitter that takes nothing switches sending off.
func TestTXDiscovered(t *testing.T) {
	src, err := rxqtest.New(0, rxqtest.Options{NumFrames: 64, FrameSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	d, err := New(Config{Sources: []rxq.Source{noCanTX{src}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ep, err := d.Bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddrPort("198.19.1.2:5353")
	for i := range 2 {
		src.Inject(packettest.UDP4(peer, netip.MustParseAddrPort("198.18.0.1:53"), []byte("q")))
		f := receiveOne(t, ep)
		err := ep.Reply(&f, []byte("a"))
		if i == 1 && !errors.Is(err, ErrNotSupported) {
			t.Fatalf("reply after discovery: got %v, want ErrNotSupported", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for d.TXStats()[0].Supported && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if st := d.TXStats()[0]; st.Supported || st.Dropped != 1 {
		t.Errorf("TX stats: got %+v, want unsupported, 1 dropped", st)
	}
	if err := d.CheckFrames(); err != nil {
		t.Fatal(err)
	}
}

// TestReplyAllocs: a whole reply round (receive, reply in place, the
// worker's collect and transmit, completion) allocates nothing.
func TestReplyAllocs(t *testing.T) {
	l := newLab(t, 1, txOpts(), Config{})
	ep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	w := l.d.workers[0]
	var frames [][]byte
	for i := range 16 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 0, byte(i)}), uint16(2000+i))
		frames = append(frames, packettest.UDP4(src, netip.MustParseAddrPort("198.18.0.1:53"), []byte("question"), packettest.MACs(peerMAC, localMAC)))
	}
	batch := make([]Frame, len(frames))
	answer := []byte("answer!!")
	round := func() {
		for _, f := range frames {
			l.set[0].Inject(f)
		}
		w.poll()
		n := ep.TryReceive(batch)
		for i := range batch[:n] {
			copy(batch[i].Payload, answer)
			if err := ep.Reply(&batch[i], batch[i].Payload); err != nil {
				t.Fatal(err)
			}
		}
		w.collectReturns()
		w.flush()
		if got := l.set[0].TakeSent(nil); got != n || n != len(frames) {
			t.Fatalf("sent %d of %d, want %d", got, n, len(frames))
		}
		w.flush()
	}
	round()
	if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
		t.Errorf("reply round: %v allocs, want 0", allocs)
	}
	if err := l.d.CheckFrames(); err != nil {
		t.Fatal(err)
	}
	if w.tx.inflight != 0 {
		t.Errorf("in flight after completion: %d", w.tx.inflight)
	}
}

// TestPacketConnEcho runs a socket-style echo server on the PacketConn and
// checks deadlines and Close.
func TestPacketConnEcho(t *testing.T) {
	l := newLab(t, 2, txOpts(), Config{})
	ep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	pc := ep.PacketConn()
	if got := pc.LocalAddr().String(); got != "0.0.0.0:53" {
		t.Errorf("local addr: got %s", got)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := pc.WriteTo(buf[:n], from); err != nil {
				t.Errorf("write to %v: %v", from, err)
				return
			}
		}
	}()
	local := netip.MustParseAddrPort("198.18.0.1:53")
	const n = 50
	want := map[string]bool{}
	for i := range n {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 2, byte(i)}), uint16(3000+i))
		p := []byte{'e', byte(i)}
		want[string(p)] = true
		l.inject(packettest.UDP4(src, local, p, packettest.MACs(peerMAC, localMAC)))
	}
	got := 0
	deadline := time.Now().Add(5 * time.Second)
	for got < n && time.Now().Before(deadline) {
		for _, s := range l.set {
			s.TakeSent(func(b []byte) {
				p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
				if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && want[string(u.Payload)] {
					delete(want, string(u.Payload))
					got++
				}
			})
		}
		time.Sleep(time.Millisecond)
	}
	if got != n {
		t.Errorf("echoed %d, want %d", got, n)
	}
	// A read deadline in the past ends a blocked ReadFrom... via Close here.
	pc.Close()
	wg.Wait()
	if _, err := pc.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(local)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: got %v, want net.ErrClosed", err)
	}
	for _, s := range l.set {
		s.Wake()
	}
	waitTX(t, l.d, 0)
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
}

func TestPacketConnWriteDeadline(t *testing.T) {
	l := newLab(t, 1, txOpts(), Config{})
	ep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	pc := ep.PacketConn()
	pc.SetDeadline(time.Now().Add(-time.Second))
	if _, err := pc.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(198, 19, 0, 1), Port: 1}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write past deadline: got %v", err)
	}
	if _, _, err := pc.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past deadline: got %v", err)
	}
}

// BenchmarkReply measures a reply round per frame: rxqtest's copy-in,
// receive, classify, deliver, Reply in place (headers and checksums), the
// worker's collect and transmit, rxqtest's TakeSent and the completion.
func BenchmarkReply(b *testing.B) {
	l := newLab(b, 1, rxqtest.Options{NumFrames: 1024, FrameSize: 2048, TXRingSize: 256}, Config{})
	ep := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	w := l.d.workers[0]
	var frames [][]byte
	for i := range rxq.BatchSize {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 0, byte(i)}), uint16(2000+i))
		frames = append(frames, packettest.UDP4(src, netip.MustParseAddrPort("198.18.0.1:53"), make([]byte, 64), packettest.MACs(peerMAC, localMAC)))
	}
	batch := make([]Frame, len(frames))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		for _, f := range frames {
			l.set[0].Inject(f)
		}
		w.poll()
		n := ep.TryReceive(batch)
		for i := range batch[:n] {
			ep.Reply(&batch[i], batch[i].Payload)
		}
		w.collectReturns()
		w.flush()
		l.set[0].TakeSent(nil)
		w.flush()
	}
	report(b, len(frames), time.Since(start))
}
