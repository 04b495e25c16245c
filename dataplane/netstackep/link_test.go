package netstackep

import (
	"bytes"
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

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

var (
	serverMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	serverIP  = netip.MustParseAddr("198.18.0.1")
	clientIP  = netip.MustParseAddr("198.18.0.2")
)

func ether(dst, src net.HardwareAddr, et uint16, tags ...uint16) []byte {
	b := append(append([]byte{}, dst...), src...)
	for _, t := range tags {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, t)
	}
	return binary.BigEndian.AppendUint16(b, et)
}

// etherTPIDs is ether with an explicit TPID per tag (VLAN ID 7, 8, ...).
func etherTPIDs(dst, src net.HardwareAddr, et uint16, tpids ...uint16) []byte {
	b := append(append([]byte{}, dst...), src...)
	for i, tp := range tpids {
		b = binary.BigEndian.AppendUint16(b, tp)
		b = binary.BigEndian.AppendUint16(b, uint16(7+i))
	}
	return binary.BigEndian.AppendUint16(b, et)
}

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

func TestParseFrame(t *testing.T) {
	v4 := append(ipv4Hdr(24, 6, clientIP, serverIP), 0, 1, 0, 80)
	v6 := make([]byte, 44)
	v6[0] = 0x60
	binary.BigEndian.PutUint16(v6[4:], 4)
	tests := []struct {
		name   string
		frame  []byte
		proto  tcpip.NetworkProtocolNumber
		ipLen  int
		wantOK bool
	}{
		{"v4", append(ether(serverMAC, clientMAC, 0x0800), v4...), header.IPv4ProtocolNumber, 24, true},
		{"v4 padded", append(append(ether(serverMAC, clientMAC, 0x0800), v4...), make([]byte, 22)...), header.IPv4ProtocolNumber, 24, true},
		{"v4 vlan", append(ether(serverMAC, clientMAC, 0x0800, 7), v4...), header.IPv4ProtocolNumber, 24, true},
		{"v4 qinq", append(ether(serverMAC, clientMAC, 0x0800, 7, 8), v4...), header.IPv4ProtocolNumber, 24, true},
		{"v4 three tags", append(ether(serverMAC, clientMAC, 0x0800, 7, 8, 9), v4...), 0, 0, false},
		// The TPIDs the worker's packet.Parse accepts, so every delivered
		// frame is understood (0x9100 used to be dropped here).
		{"v4 802.1ad qinq", append(etherTPIDs(serverMAC, clientMAC, 0x0800, 0x88a8, 0x8100), v4...), header.IPv4ProtocolNumber, 24, true},
		{"v4 0x9100 qinq", append(etherTPIDs(serverMAC, clientMAC, 0x0800, 0x9100, 0x8100), v4...), header.IPv4ProtocolNumber, 24, true},
		{"v4 0x9100 three tags", append(etherTPIDs(serverMAC, clientMAC, 0x0800, 0x9100, 0x88a8, 0x8100), v4...), 0, 0, false},
		{"v4 truncated", append(ether(serverMAC, clientMAC, 0x0800), v4[:22]...), 0, 0, false},
		{"v4 bad version", append(ether(serverMAC, clientMAC, 0x0800), v6...), 0, 0, false},
		{"v6", append(ether(serverMAC, clientMAC, 0x86dd), v6...), header.IPv6ProtocolNumber, 44, true},
		{"v6 truncated", append(ether(serverMAC, clientMAC, 0x86dd), v6[:43]...), 0, 0, false},
		{"arp", append(ether(serverMAC, clientMAC, 0x0806), make([]byte, 28)...), 0, 0, false},
		{"short", []byte{1, 2, 3}, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proto, ip, ok := parseFrame(tc.frame)
			if ok != tc.wantOK || proto != tc.proto || len(ip) != tc.ipLen {
				t.Errorf("got (%d, %d bytes, %v), want (%d, %d bytes, %v)", proto, len(ip), ok, tc.proto, tc.ipLen, tc.wantOK)
			}
		})
	}
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

func FuzzParseFrame(f *testing.F) {
	f.Add(append(ether(serverMAC, clientMAC, 0x0800), append(ipv4Hdr(24, 6, clientIP, serverIP), 0, 1, 0, 80)...))
	f.Add(append(ether(serverMAC, clientMAC, 0x86dd, 3), make([]byte, 40)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, ip, ok := parseFrame(b)
		if ok && len(ip) > len(b) {
			t.Fatalf("ip packet of %d bytes from a %d byte frame", len(ip), len(b))
		}
		packetDst(b)
	})
}

// fakeSender stands in for the dataplane's SendFrame: it checks each frame's
// link header and hands the IP packet to the client stack.
type fakeSender struct {
	t      *testing.T
	client *channel.Endpoint

	mu     sync.Mutex
	frames int
	queues map[uint16]map[int]bool // client port -> queues sent on
	bad    []string
}

func (s *fakeSender) SendFrame(queue int, frame []byte) error {
	s.mu.Lock()
	s.frames++
	if !bytes.Equal(frame[0:6], clientMAC) || !bytes.Equal(frame[6:12], serverMAC) ||
		binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		s.bad = append(s.bad, fmt.Sprintf("link header % x", frame[:14]))
	}
	ip := frame[14:]
	dst, _ := packetDst(ip)
	if s.queues[dst.Port()] == nil {
		s.queues[dst.Port()] = make(map[int]bool)
	}
	s.queues[dst.Port()][queue] = true
	s.mu.Unlock()
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(ip)})
	s.client.InjectInbound(header.IPv4ProtocolNumber, pkt)
	pkt.DecRef()
	return nil
}

// TestHTTPOverRxqtest runs net/http over gonet on a stack whose link is a
// Link on a real dataplane endpoint (rxqtest sources, no root): a client
// stack's frames are injected into the sources, the server's frames come
// back through the Sender. A page, a 1 MB body (checksummed) and keep-alive;
// every frame is back afterwards.
func TestHTTPOverRxqtest(t *testing.T) {
	const queues = 2
	srcs, err := rxqtest.NewSet(queues, rxqtest.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	d, err := dataplane.New(dataplane.Config{Sources: rxqtest.Sources(srcs)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range srcs {
			s.Close()
		}
	}()
	defer d.Close()
	ep, err := d.Bind(pcb.Spec{Proto: pcb.TCP, Local: netip.AddrPortFrom(serverIP, 80)}, dataplane.EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}

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

	sender := &fakeSender{t: t, client: clientEP, queues: make(map[uint16]map[int]bool)}
	link, err := New(ep, Options{Sender: sender, LinkAddress: serverMAC})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := NewStack(link, netip.PrefixFrom(serverIP, 24))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { link.Stop(); ss.Destroy() }()

	// Client -> dataplane: each flow on the queue its port picks.
	ctx, cancel := context.WithCancel(context.Background())
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		for {
			pkt := clientEP.ReadContext(ctx)
			if pkt == nil {
				return
			}
			ip := pkt.ToView().AsSlice()
			pkt.DecRef()
			sport := binary.BigEndian.Uint16(ip[20:22])
			frame := append(ether(serverMAC, clientMAC, 0x0800), ip...)
			for !srcs[int(sport)%queues].Inject(frame) {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	defer func() { cancel(); <-pumpDone }()

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

	sender.mu.Lock()
	if len(sender.bad) > 0 {
		t.Errorf("bad frames: %v", sender.bad[:min(5, len(sender.bad))])
	}
	for port, qs := range sender.queues {
		if len(qs) != 1 || !qs[int(port)%queues] {
			t.Errorf("flow from port %d answered on queues %v, want only %d", port, qs, int(port)%queues)
		}
	}
	sender.mu.Unlock()
	st := link.Stats()
	t.Logf("link stats %+v", st)
	if st.RXPackets == 0 || st.TXPackets == 0 || st.TXNoPeer != 0 || st.TXErrors != 0 || st.RXDropped != 0 {
		t.Errorf("link stats %+v", st)
	}

	srv.Close()
	link.Stop() // before Destroy: see Link.Wait
	ss.Destroy()
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
		{"small mtu", ep, Options{Sender: &fakeSender{}, MTU: 500}, ErrBadOptions},
		{"bad mac", ep, Options{Sender: &fakeSender{}, LinkAddress: net.HardwareAddr{1}}, ErrBadOptions},
		{"ok", ep, Options{Sender: &fakeSender{}}, nil},
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
