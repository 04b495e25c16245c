package netstackep

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

var (
	serverMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	serverIP  = netip.MustParseAddr("198.18.0.1")
	clientIP  = netip.MustParseAddr("198.18.0.2")
)

func ipv4Hdr(total int, proto byte, src, dst netip.Addr) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	h[8], h[9] = 64, proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	return h
}

// onWire is what the client's NIC puts on the wire for an IP packet: the
// frame, built by packettest (gopacket), to the server's MAC.
func onWire(ip []byte, opts ...packettest.Option) []byte {
	et := layers.EthernetTypeIPv4
	if len(ip) > 0 && ip[0]>>4 == 6 {
		et = layers.EthernetTypeIPv6
	}
	opts = append([]packettest.Option{packettest.MACs(clientMAC, serverMAC)}, opts...)
	return packettest.Serialize(append(packettest.Link(et, opts...), gopacket.Payload(ip))...)
}

// rxqLab is a started dataplane over n rxqtest sources with TX rings and
// a TCP endpoint bound to local; Cleanup closes it all.
func rxqLab(t *testing.T, n int, local netip.AddrPort) ([]*rxqtest.Source, *dataplane.Dataplane, *dataplane.Endpoint) {
	t.Helper()
	srcs, err := rxqtest.NewSet(n, rxqtest.Options{NumFrames: 4096, FrameSize: 2048, TXRingSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dataplane.New(dataplane.Config{Sources: rxqtest.Sources(srcs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		for _, s := range srcs {
			s.Close()
		}
	})
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	ep, err := d.Bind(pcb.Spec{Proto: pcb.TCP, Local: local}, dataplane.EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return srcs, d, ep
}

func TestPacketDst(t *testing.T) {
	v6 := make([]byte, 44)
	v6[0], v6[6] = 0x60, 6
	copy(v6[24:40], netip.MustParseAddr("2001:db8::1").AsSlice())
	binary.BigEndian.PutUint16(v6[42:], 443)
	frag := append(ipv4Hdr(24, 6, serverIP, clientIP), 0, 1, 0, 80)
	binary.BigEndian.PutUint16(frag[6:], 10)
	tests := []struct {
		name string
		ip   []byte
		want netip.AddrPort
		ok   bool
	}{
		{"v4 tcp", append(ipv4Hdr(24, 6, serverIP, clientIP), 0, 80, 0x30, 0x39), netip.AddrPortFrom(clientIP, 12345), true},
		{"v4 icmp", append(ipv4Hdr(24, 1, serverIP, clientIP), 8, 0, 0, 0), netip.AddrPortFrom(clientIP, 0), true},
		{"v4 fragment", frag, netip.AddrPortFrom(clientIP, 0), true},
		{"v6 tcp", v6, netip.MustParseAddrPort("[2001:db8::1]:443"), true},
		{"short v4", []byte{0x45, 0}, netip.AddrPort{}, false},
		{"empty", nil, netip.AddrPort{}, false},
		{"v5", []byte{0x50}, netip.AddrPort{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := packetDst(tc.ip)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got (%v, %v), want (%v, %v)", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzPacketDst(f *testing.F) {
	f.Add(append(ipv4Hdr(24, 6, serverIP, clientIP), 0, 80, 0x30, 0x39))
	f.Add(append([]byte{0x60}, make([]byte, 43)...))
	f.Add([]byte{0x4f})
	f.Fuzz(func(t *testing.T, b []byte) {
		dst, ok := packetDst(b)
		if ok && dst.Addr().Is4() != (b[0]>>4 == 4) {
			t.Fatalf("destination %v from an IPv%d packet", dst, b[0]>>4)
		}
	})
}

// fakeSender takes IP packets and keeps nothing.
type fakeSender struct{}

func (fakeSender) SendIP(int, []byte) error { return nil }

// TestHTTPOverRxqtest runs net/http over gonet on a stack whose link is a
// Link on a real dataplane endpoint (rxqtest sources with TX rings, no
// root), sending through the endpoint itself (SendIP): a client stack's
// packets are framed and injected into the sources, the server's frames
// are taken off the sources' TX rings, checked (the client's MAC as
// destination, the server's as source, no tag) and handed to the client.
// A page, a 1 MB body (checksummed) and keep-alive; each flow answered on
// the queue it arrives on; every frame is back afterwards. With GSO (the
// default) and without: the client stack verifies every checksum, so the
// Link's segments must be right.
func TestHTTPOverRxqtest(t *testing.T) {
	for _, tc := range []struct {
		name string
		gso  int
	}{{"gso", 0}, {"no gso", -1}} {
		t.Run(tc.name, func(t *testing.T) { testHTTPOverRxqtest(t, tc.gso) })
	}
}

func testHTTPOverRxqtest(t *testing.T, gso int) {
	const queues = 2
	srcs, d, ep := rxqLab(t, queues, netip.AddrPortFrom(serverIP, 80))

	// The client: a plain gVisor stack on a channel endpoint.
	clientEP := channel.New(1024, 1500, tcpip.LinkAddress(clientMAC))
	cs := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	defer cs.Destroy()
	if err := cs.CreateNIC(1, clientEP); err != nil {
		t.Fatal(err)
	}
	if err := cs.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFrom4(clientIP.As4()).WithPrefix()}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	cs.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})

	link, err := New(ep, Options{LinkAddress: serverMAC, GSOMaxSize: gso})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := NewStack(link, netip.PrefixFrom(serverIP, 24))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { link.Stop(); ss.Destroy() }()

	ctx, cancel := context.WithCancel(context.Background())
	var pumps sync.WaitGroup
	defer func() { cancel(); pumps.Wait() }()
	// Client -> dataplane: each flow on the queue its port picks.
	pumps.Add(1)
	go func() {
		defer pumps.Done()
		for {
			pkt := clientEP.ReadContext(ctx)
			if pkt == nil {
				return
			}
			ip := pkt.ToView().AsSlice()
			pkt.DecRef()
			sport := binary.BigEndian.Uint16(ip[20:22])
			frame := onWire(ip)
			for !srcs[int(sport)%queues].Inject(frame) {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	// Dataplane TX rings -> client.
	var (
		outMu  sync.Mutex
		queued = make(map[uint16]map[int]bool) // client port -> queues sent on
		bad    []string
		frames int
	)
	pumps.Add(1)
	go func() {
		defer pumps.Done()
		type sent struct {
			q     int
			frame []byte
		}
		var out []sent
		for ctx.Err() == nil {
			out = out[:0]
			for q, s := range srcs {
				s.TakeSent(func(b []byte) { out = append(out, sent{q, append([]byte(nil), b...)}) })
			}
			if len(out) == 0 {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			for _, o := range out {
				var eth layers.Ethernet
				outMu.Lock()
				frames++
				if err := eth.DecodeFromBytes(o.frame, gopacket.NilDecodeFeedback); err != nil ||
					eth.DstMAC.String() != clientMAC.String() || eth.SrcMAC.String() != serverMAC.String() ||
					eth.EthernetType != layers.EthernetTypeIPv4 {
					bad = append(bad, fmt.Sprintf("link header %v -> %v type %v (%v)", eth.SrcMAC, eth.DstMAC, eth.EthernetType, err))
					outMu.Unlock()
					continue
				}
				dst, _ := packetDst(eth.Payload)
				if queued[dst.Port()] == nil {
					queued[dst.Port()] = make(map[int]bool)
				}
				queued[dst.Port()][o.q] = true
				outMu.Unlock()
				pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(eth.Payload)})
				clientEP.InjectInbound(header.IPv4ProtocolNumber, pkt)
				pkt.DecRef()
			}
		}
	}()

	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(i*7 + i>>9)
	}
	ln, err := gonet.ListenTCP(ss, tcpip.FullAddress{NIC: NICID, Addr: tcpip.AddrFrom4(serverIP.As4()), Port: 80},
		ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	var dials int
	var dialMu sync.Mutex
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dialMu.Lock()
			dials++
			dialMu.Unlock()
			return gonet.DialContextTCP(ctx, cs, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(serverIP.As4()), Port: 80},
				ipv4.ProtocolNumber)
		},
	}}
	defer client.CloseIdleConnections()
	get := func(path string) []byte {
		t.Helper()
		resp, err := client.Get("http://" + serverIP.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return b
	}
	if got := string(get("/")); got != "hello\n" {
		t.Errorf("GET /: got %q", got)
	}
	if got, want := sha256.Sum256(get("/big")), sha256.Sum256(body); got != want {
		t.Errorf("GET /big: sha256 %x, want %x", got, want)
	}
	if dials != 1 {
		t.Errorf("%d dials for two requests, want 1 (keep-alive)", dials)
	}
	client.CloseIdleConnections()

	outMu.Lock()
	if len(bad) > 0 {
		t.Errorf("%d bad frames of %d: %v", len(bad), frames, bad[:min(5, len(bad))])
	}
	if len(queued) == 0 {
		t.Error("no frame taken off the TX rings")
	}
	for port, qs := range queued {
		if len(qs) != 1 || !qs[int(port)%queues] {
			t.Errorf("flow from port %d answered on queues %v, want only %d", port, qs, int(port)%queues)
		}
	}
	outMu.Unlock()
	st := link.Stats()
	t.Logf("link stats %+v, TX %+v", st, d.TXStats())
	if st.RXPackets == 0 || st.TXPackets == 0 || st.TXNoPeer != 0 || st.TXErrors != 0 || st.RXDropped != 0 {
		t.Errorf("link stats %+v", st)
	}
	if (st.TXGSO > 0) != (gso >= 0) {
		t.Errorf("GSOMaxSize %d: %d GSO packets cut", gso, st.TXGSO)
	}
	if cst := cs.Stats().TCP.ChecksumErrors.Value(); cst != 0 {
		t.Errorf("client: %d TCP checksum errors", cst)
	}

	srv.Close()
	link.Stop() // before Destroy: see Link.Wait
	ss.Destroy()
	cancel()
	pumps.Wait()
	if err := ep.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckFrames(); err != nil {
		t.Error(err)
	}
}

func TestNewOptions(t *testing.T) {
	type recvOnly struct{ Receiver }
	ep := recvOnly{}
	tests := []struct {
		name string
		rx   Receiver
		opts Options
		want error
	}{
		{"nil receiver", nil, Options{}, ErrBadOptions},
		{"no sender", ep, Options{}, ErrNoSender},
		{"small mtu", ep, Options{Sender: fakeSender{}, MTU: 500}, ErrBadOptions},
		{"big mtu", ep, Options{Sender: fakeSender{}, MTU: 65536}, ErrBadOptions},
		{"negative batch", ep, Options{Sender: fakeSender{}, Batch: -1}, ErrBadOptions},
		{"negative max peers", ep, Options{Sender: fakeSender{}, MaxPeers: -1}, ErrBadOptions},
		{"too many peers", ep, Options{Sender: fakeSender{}, MaxPeers: dataplane.MaxPeerCacheSize + 1}, ErrBadOptions},
		{"GSO off", ep, Options{Sender: fakeSender{}, GSOMaxSize: -1}, nil},
		{"negative GSO", ep, Options{Sender: fakeSender{}, GSOMaxSize: -2}, ErrBadOptions},
		{"big GSO", ep, Options{Sender: fakeSender{}, GSOMaxSize: 65536}, ErrBadOptions},
		{"ok", ep, Options{Sender: fakeSender{}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.rx, tc.opts)
			if (err == nil) != (tc.want == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestMaxPeers: Options.MaxPeers sizes the endpoint's peer cache, the one
// table of peers (DefaultMaxPeers when 0), and never shrinks it.
func TestMaxPeers(t *testing.T) {
	_, _, ep := rxqLab(t, 1, netip.AddrPortFrom(serverIP, 80))
	for _, tc := range []struct {
		maxPeers, want int
	}{{0, DefaultMaxPeers}, {100, DefaultMaxPeers}, {10000, 16384}, {0, 16384}} {
		if _, err := New(ep, Options{MaxPeers: tc.maxPeers}); err != nil {
			t.Fatal(err)
		}
		if got := ep.PeerCacheSize(); got != tc.want {
			t.Errorf("MaxPeers %d: peer cache of %d, want %d", tc.maxPeers, got, tc.want)
		}
	}
	ep.Close()
	if _, err := New(ep, Options{}); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("New on a closed endpoint: got %v, want %v", err, dataplane.ErrClosed)
	}
}
