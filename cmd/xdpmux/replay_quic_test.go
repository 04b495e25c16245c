package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/xdpmux/xdpmux/localgroup/quiclb"
)

// udpFrame builds an IPv4 UDP frame with the given payload.
func udpFrame(t testing.TB, src netip.AddrPort, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, u, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// quicPacket returns a QUIC packet whose destination connection ID carries
// server ID sid: short header, or a v1 Handshake packet.
func quicPacket(rng *rand.Rand, lb quiclb.Config, sid uint32, handshake bool) []byte {
	cid := make([]byte, lb.CIDLen)
	for i := range cid {
		cid[i] = byte(rng.Uint32())
	}
	lb.Encode(cid, sid)
	var p []byte
	if handshake {
		p = append([]byte{0xe0, 0, 0, 0, 1, byte(len(cid))}, cid...)
		p = append(p, 8, 1, 2, 3, 4, 5, 6, 7, 8)
	} else {
		p = append([]byte{0x40}, cid...)
	}
	for range 60 {
		p = append(p, byte(rng.Uint32()))
	}
	return p
}

// TestReplayQUICRoutesByServerID: packets naming server IDs 1..4 from many
// client ports (a client whose port keeps changing) all reach the member
// with that server ID under -policy quic, and an unknown server ID falls
// back to the hash; under -policy threshold the same packets scatter.
func TestReplayQUICRoutesByServerID(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	lb := quiclb.Config{ServerIDLen: 1, CIDLen: 9}
	server := netip.MustParseAddrPort("198.18.0.1:443")
	var frames [][]byte
	var sids []uint32
	for i := range 400 {
		sid := uint32(1 + i%5) // 5 names no member
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(rng.IntN(250))}), uint16(1024+rng.IntN(60000)))
		frames = append(frames, udpFrame(t, src, server, quicPacket(rng, lb, sid, i%3 == 0)))
		sids = append(sids, sid)
	}
	file := writePcap(t, frames)
	perSID := func(policy string) map[uint32]map[string]int {
		stdout, stderr, status := replayCmd("-pcap", file, "-trace", "-queues", "2", "-policy", policy,
			"-quic-sid-len", "1", "-quic-cid-len", "9", "udp/0.0.0.0:443/4")
		if status != 0 {
			t.Fatalf("%s: status %d: %s", policy, status, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != len(frames) {
			t.Fatalf("%s: %d trace lines, want %d", policy, len(lines), len(frames))
		}
		out := map[uint32]map[string]int{}
		for i, l := range lines {
			f := strings.Fields(l)
			if out[sids[i]] == nil {
				out[sids[i]] = map[string]int{}
			}
			out[sids[i]][f[3]]++
		}
		return out
	}
	got := perSID("quic")
	for sid := uint32(1); sid <= 4; sid++ {
		want := "udp/0.0.0.0:443#" + string(rune('0'+sid-1))
		if len(got[sid]) != 1 || got[sid][want] != 80 {
			t.Errorf("quic: server ID %d went to %v, want all 80 to %s", sid, got[sid], want)
		}
	}
	if len(got[5]) < 3 {
		t.Errorf("quic: unknown server ID 5 went to %v, want the hash to spread it", got[5])
	}
	th := perSID("threshold")
	for sid := uint32(1); sid <= 4; sid++ {
		if len(th[sid]) < 3 {
			t.Errorf("threshold: server ID %d went to %v, want the hash to spread it", sid, th[sid])
		}
	}
	_, stderr, status := replayCmd("-pcap", file, "-policy", "quic", "-quic-cid-len", "4", "udp/0.0.0.0:443/4")
	if status != 2 || !strings.Contains(stderr, "invalid QUIC-LB config") {
		t.Errorf("-quic-cid-len 4: status %d, stderr %q, want 2 and the config error", status, stderr)
	}
}

// capturedPacket is one frame of testdata/quic-rebind.pcap.
type capturedPacket struct {
	port    int
	initial bool // a v1 Initial packet: the client chose its ID
}

func readQUICCapture(t *testing.T) (pkts []capturedPacket, member, conn map[int]int) {
	t.Helper()
	f, err := os.Open("../../testdata/quic-rebind.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || len(u.Payload) == 0 {
			t.Fatalf("frame %d: not a UDP datagram", len(pkts))
		}
		pkts = append(pkts, capturedPacket{port: int(u.SrcPort), initial: u.Payload[0]&0xb0 == 0x80})
	}
	b, err := os.ReadFile("../../testdata/quic-rebind.txt")
	if err != nil {
		t.Fatal(err)
	}
	member, conn = map[int]int{}, map[int]int{}
	for _, l := range strings.Split(string(b), "\n") {
		var port, c, m int
		if n, _ := fmt.Sscan(l, &port, &c, &m); n == 3 {
			member[port], conn[port] = m, c
		}
	}
	return pkts, member, conn
}

// TestReplayQUICCapture replays a real quic-go session (12 HTTP/3
// connections to 4 members, each moved to a new source port twice;
// written by examples/h3server's TestWriteCapture): under -policy quic
// every packet whose connection ID the server chose reaches the member
// that served its connection, from every port; under threshold the
// packets from the new ports mostly miss it.
func TestReplayQUICCapture(t *testing.T) {
	pkts, member, conn := readQUICCapture(t)
	trace := func(policy string) []string {
		stdout, stderr, status := replayCmd("-pcap", "../../testdata/quic-rebind.pcap", "-trace", "-queues", "2",
			"-policy", policy, "udp/0.0.0.0:443/4")
		if status != 0 {
			t.Fatalf("%s: status %d: %s", policy, status, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != len(pkts) {
			t.Fatalf("%s: %d trace lines, want %d", policy, len(lines), len(pkts))
		}
		eps := make([]string, len(lines))
		for i, l := range lines {
			eps[i] = strings.Fields(l)[3]
		}
		return eps
	}
	want := func(port int) string { return fmt.Sprintf("udp/0.0.0.0:443#%d", member[port]) }

	routed, initials := 0, 0
	for i, ep := range trace("quic") {
		p := pkts[i]
		if _, ok := member[p.port]; !ok {
			t.Fatalf("packet %d: port %d not in quic-rebind.txt", i, p.port)
		}
		if p.initial {
			initials++
			continue
		}
		routed++
		if ep != want(p.port) {
			t.Errorf("quic: packet %d from port %d (connection %d): endpoint %s, want %s", i, p.port, conn[p.port], ep, want(p.port))
		}
	}
	if routed < 100 || initials == 0 {
		t.Errorf("capture has %d packets routed by server ID and %d Initials, want >= 100 and some", routed, initials)
	}

	first := map[int]int{} // connection -> its first port
	for _, p := range pkts {
		if _, ok := first[conn[p.port]]; !ok {
			first[conn[p.port]] = p.port
		}
	}
	moved, hit := 0, 0
	for i, ep := range trace("threshold") {
		p := pkts[i]
		if first[conn[p.port]] == p.port {
			continue
		}
		moved++
		if ep == want(p.port) {
			hit++
		}
	}
	t.Logf("quic: %d packets routed by server ID, %d Initials by hash; threshold: %d of %d packets from new ports reach their member",
		routed, initials, hit, moved)
	if moved == 0 || float64(hit) > 0.6*float64(moved) {
		t.Errorf("threshold: %d of %d packets from new ports reached their member, want at most 60%%", hit, moved)
	}
}
