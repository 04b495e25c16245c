package dataplane

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
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
		if st := s.FrameStats(); st.Fill+st.Free != st.Total {
			t.Errorf("queue %d: %d+%d of %d frames back in the fill ring and on the free list", s.Queue(), st.Fill, st.Free, st.Total)
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

func (noCanTX) CanTransmit() {} // a different signature: not an rxq.CanTransmitter

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

// rawFrame returns an n-byte frame (n >= 14): an Ethernet header from
// localMAC to peerMAC with an experimental ethertype, then a pattern
// derived from seed.
func rawFrame(n int, seed byte) []byte {
	b := make([]byte, n)
	copy(b[0:6], peerMAC)
	copy(b[6:12], localMAC)
	b[12], b[13] = 0x88, 0xb5
	for i := 14; i < n; i++ {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// TestSendFrame: whole frames go out byte for byte on the queue asked for,
// from UDP and TCP endpoints alike.
func TestSendFrame(t *testing.T) {
	l := newLab(t, 2, txOpts(), Config{})
	udp := l.bind(udpSpec("0.0.0.0:53", false), EndpointOptions{})
	tcp := l.bind(tcpSpec("198.18.0.1:80", true), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		ep    *Endpoint
		queue int
		frame []byte
	}{
		{"tcp q0 small", tcp, 0, rawFrame(60, 1)},
		{"tcp q1 small", tcp, 1, rawFrame(60, 2)},
		{"tcp q1 header only", tcp, 1, rawFrame(14, 3)},
		{"tcp q0 1514", tcp, 0, rawFrame(1514, 4)},
		{"tcp q1 whole UMEM frame", tcp, 1, rawFrame(2048, 5)},
		{"udp q0 odd", udp, 0, rawFrame(333, 6)},
		{"udp q1 v4 datagram", udp, 1, packettest.UDP4(netip.MustParseAddrPort("198.18.0.1:53"),
			netip.MustParseAddrPort("198.19.0.9:4000"), []byte("built elsewhere"), packettest.MACs(localMAC, peerMAC))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := append([]byte(nil), tc.frame...)
			if err := tc.ep.SendFrame(tc.queue, buf); err != nil {
				t.Fatalf("send frame: %v", err)
			}
			for i := range buf {
				buf[i] = 0xee // SendFrame copied: the caller may reuse buf
			}
			sent := takeSent(t, l.set[tc.queue], 1)
			if len(sent) != 1 || !bytes.Equal(sent[0], tc.frame) {
				t.Fatalf("queue %d sent %d frames, first %d bytes; want the %d-byte frame as given",
					tc.queue, len(sent), len(sent[0]), len(tc.frame))
			}
			if other := l.set[1-tc.queue].TakeSent(nil); other != 0 {
				t.Errorf("queue %d sent %d frames, want 0", 1-tc.queue, other)
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
	var sent, dropped uint64
	for _, s := range l.d.TXStats() {
		sent += s.Sent
		dropped += s.Dropped
	}
	if sent != uint64(len(tests)) || dropped != 0 {
		t.Errorf("TX stats: %d sent, %d dropped; want %d, 0", sent, dropped, len(tests))
	}
}

func TestSendFrameErrors(t *testing.T) {
	l := newLab(t, 2, txOpts(), Config{})
	ep := l.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	closed := l.bind(tcpSpec("198.18.0.2:80", false), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	closed.Close()
	noTX := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{})
	noTXEp := noTX.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	if err := noTX.d.Start(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ep      *Endpoint
		queue   int
		frame   []byte
		want    error  // nil: check the message
		wantMsg string // in the error
	}{
		{"queue -1", ep, -1, rawFrame(60, 0), nil, "queue -1 out of range"},
		{"queue 2 of 2", ep, 2, rawFrame(60, 0), nil, "queue 2 out of range"},
		{"too long", ep, 0, rawFrame(2049, 0), ErrMessageTooLong, "queue 0"},
		{"short", ep, 1, rawFrame(14, 0)[:13], nil, "shorter than an Ethernet header"},
		{"empty", ep, 1, nil, nil, "shorter than an Ethernet header"},
		{"closed", closed, 0, rawFrame(60, 0), ErrClosed, "send frame"},
		{"no TX ring", noTXEp, 0, rawFrame(60, 0), ErrNotSupported, "queue 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ep.SendFrame(tc.queue, tc.frame)
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
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	for _, s := range l.d.TXStats() {
		if s.Sent != 0 || s.Dropped != 0 {
			t.Errorf("queue %d TX stats: %+v, want nothing sent", s.Queue, s)
		}
	}
}

// TestSendFrameTimeout: with the worker not running, the stage fills; the
// next SendFrame gives up after stageWait. Once the worker runs, every
// staged frame goes out.
func TestSendFrameTimeout(t *testing.T) {
	l := newLab(t, 1, rxqtest.Options{NumFrames: 512, FrameSize: 2048, TXRingSize: 512}, Config{})
	ep := l.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	for i := range stageSlots {
		if err := ep.SendFrame(0, rawFrame(64, byte(i))); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	start := time.Now()
	if err := ep.SendFrame(0, rawFrame(64, 0)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("send to a full stage: got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < stageWait {
		t.Errorf("gave up after %v, want %v", d, stageWait)
	}
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	sent := takeSent(t, l.set[0], stageSlots)
	for i, f := range sent {
		if !bytes.Equal(f, rawFrame(64, byte(i))) {
			t.Fatalf("frame %d differs", i)
		}
	}
	l.set[0].Wake()
	waitTX(t, l.d, 0)
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
}

// TestSendFrameAccounting: frames staged by SendFrame and sitting on the TX
// ring are counted exactly, and all come back through the completion ring.
func TestSendFrameAccounting(t *testing.T) {
	l := newLab(t, 2, txOpts(), Config{})
	ep := l.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	const n = 20 // per queue; fits the 64-entry TX ring
	for round := range 5 {
		for i := range n {
			for q := range 2 {
				if err := ep.SendFrame(q, rawFrame(100+i, byte(round))); err != nil {
					t.Fatal(err)
				}
			}
		}
		waitInFlight(t, l.d, 2*n)
		if err := l.d.CheckFrames(); err != nil {
			t.Fatalf("round %d, frames on the TX rings: %v", round, err)
		}
		for q, s := range l.set {
			if got := s.TakeSent(nil); got != n {
				t.Fatalf("round %d: queue %d sent %d, want %d", round, q, got, n)
			}
			s.Wake()
		}
		waitTX(t, l.d, 0)
		if err := l.settle(); err != nil {
			t.Fatalf("round %d, after completion: %v", round, err)
		}
	}
	for _, s := range l.set {
		if st := s.FrameStats(); st.Fill+st.Free != st.Total {
			t.Errorf("queue %d: %d+%d of %d frames back in the fill ring and on the free list", s.Queue(), st.Fill, st.Free, st.Total)
		}
	}
}

// waitInFlight waits until exactly want frames of d are in flight.
func waitInFlight(t *testing.T, d *Dataplane, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		for _, s := range d.TXStats() {
			n += s.InFlight
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d frames in flight, want %d", n, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSendFrameConcurrent: several goroutines send on both queues while a
// stand-in kernel sends; every frame arrives intact, once, in each
// sender's order on its queue, or is counted dropped; CheckFrames is exact
// afterwards. Run it with -race.
func TestSendFrameConcurrent(t *testing.T) {
	l := newLab(t, 2, rxqtest.Options{NumFrames: 2048, FrameSize: 2048, TXRingSize: 1024}, Config{})
	ep := l.bind(tcpSpec("198.18.0.1:80", true), EndpointOptions{})
	other := l.bind(tcpSpec("198.18.0.1:80", true), EndpointOptions{}) // a second stage per queue
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	const senders, perSender = 6, 500
	// Frame layout after the Ethernet header: sender, queue, sequence
	// (big endian), then a pattern over the rest.
	mk := func(buf []byte, s, q, seq int) []byte {
		n := 30 + (s*131+seq*17)%1400
		b := buf[:n]
		copy(b, rawFrame(14, 0))
		b[14], b[15] = byte(s), byte(q)
		binary.BigEndian.PutUint32(b[16:], uint32(seq))
		for i := 20; i < n; i++ {
			b[i] = byte(s + seq + i)
		}
		return b
	}
	var (
		stop   = make(chan struct{})
		kernel sync.WaitGroup
		got    [2][]([]byte)
	)
	for q, src := range l.set {
		kernel.Add(1)
		go func() {
			defer kernel.Done()
			for {
				src.TakeSent(func(b []byte) { got[q] = append(got[q], append([]byte(nil), b...)) })
				src.Wake()
				select {
				case <-stop:
					src.TakeSent(func(b []byte) { got[q] = append(got[q], append([]byte(nil), b...)) })
					return
				default:
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := ep
			if s%3 == 2 {
				e = other
			}
			buf := make([]byte, 2048)
			for seq := range perSender {
				q := (s + seq) % 2
				if err := e.SendFrame(q, mk(buf, s, q, seq)); err != nil {
					t.Errorf("sender %d frame %d: %v", s, seq, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Everything staged is drained once TXStats account for all of it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var sent, dropped uint64
		for _, s := range l.d.TXStats() {
			sent += s.Sent
			dropped += s.Dropped
		}
		if sent+dropped == senders*perSender {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sent + %d dropped, want %d", sent, dropped, senders*perSender)
		}
		time.Sleep(time.Millisecond)
	}
	waitTX(t, l.d, 0)
	close(stop)
	kernel.Wait()
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	var dropped uint64
	received := 0
	for q := range 2 {
		st := l.d.TXStats()[q]
		dropped += st.Dropped
		if int(st.Sent) != len(got[q]) {
			t.Errorf("queue %d: TXStats sent %d, stand-in kernel took %d", q, st.Sent, len(got[q]))
		}
		last := make([]int, senders)
		for i := range last {
			last[i] = -1
		}
		buf := make([]byte, 2048)
		for _, f := range got[q] {
			if len(f) < 20 || int(f[14]) >= senders || int(f[15]) != q {
				t.Fatalf("queue %d: stray frame of %d bytes", q, len(f))
			}
			s, seq := int(f[14]), int(binary.BigEndian.Uint32(f[16:]))
			if !bytes.Equal(f, mk(buf, s, q, seq)) {
				t.Fatalf("queue %d: sender %d frame %d corrupted", q, s, seq)
			}
			if seq <= last[s] {
				t.Fatalf("queue %d: sender %d frame %d after %d", q, s, seq, last[s])
			}
			last[s] = seq
			received++
		}
	}
	if received+int(dropped) != senders*perSender {
		t.Errorf("%d received + %d dropped, want %d", received, dropped, senders*perSender)
	}
	t.Logf("%d frames received, %d dropped (TX ring full)", received, dropped)
}

// TestSendFrameAllocs: a round of SendFrame calls and the worker's drain,
// transmit and completion allocates nothing.
func TestSendFrameAllocs(t *testing.T) {
	l := newLab(t, 1, txOpts(), Config{})
	ep := l.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	w := l.d.workers[0]
	var frames [][]byte
	for i := range 16 {
		frames = append(frames, rawFrame(60+i*90, byte(i)))
	}
	send := func() {
		for _, f := range frames {
			if err := ep.SendFrame(0, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	work := func() {
		w.collectReturns()
		w.flush()
		if got := l.set[0].TakeSent(nil); got != len(frames) {
			t.Fatalf("sent %d, want %d", got, len(frames))
		}
		w.flush()
	}
	send()
	work()
	if allocs := testing.AllocsPerRun(100, func() { send(); work() }); allocs != 0 {
		t.Errorf("send and transmit round: %v allocs, want 0", allocs)
	}
	// The worker's side alone, with the frames staged beforehand (as
	// AllocsPerRun measures, but around work only).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var total uint64
	var ms runtime.MemStats
	for range 50 {
		send()
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		work()
		runtime.ReadMemStats(&ms)
		total += ms.Mallocs - before
	}
	if total != 0 {
		t.Errorf("worker side: %v allocs in 50 rounds, want 0", total)
	}
	if err := l.d.CheckFrames(); err != nil {
		t.Fatal(err)
	}
	if w.tx.inflight != 0 {
		t.Errorf("in flight after completion: %d", w.tx.inflight)
	}
}

// BenchmarkSendFrame measures SendFrame's copy into the stage plus the
// worker's drain (AllocFrame, copy into the UMEM), transmit and completion,
// per 128-byte frame.
func BenchmarkSendFrame(b *testing.B) {
	l := newLab(b, 1, rxqtest.Options{NumFrames: 1024, FrameSize: 2048, TXRingSize: 256}, Config{})
	ep := l.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	w := l.d.workers[0]
	frame := rawFrame(128, 1)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		for range rxq.BatchSize {
			ep.SendFrame(0, frame)
		}
		w.collectReturns()
		w.flush()
		l.set[0].TakeSent(nil)
		w.flush()
	}
	report(b, rxq.BatchSize, time.Since(start))
}
