package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/xdpmux/xdpmux/rxq/rss"
)

// flow is one test packet's 4-tuple.
type flow struct {
	proto      layers.IPProtocol
	src, dst   netip.Addr
	sport, dpt uint16
}

func buildFrame(t testing.TB, f flow) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
	var ip gopacket.NetworkLayer
	if f.src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: f.proto, SrcIP: f.src.AsSlice(), DstIP: f.dst.AsSlice()}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: f.proto, SrcIP: f.src.AsSlice(), DstIP: f.dst.AsSlice()}
	}
	var l4 gopacket.SerializableLayer
	switch f.proto {
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(f.sport), DstPort: layers.UDPPort(f.dpt)}
		u.SetNetworkLayerForChecksum(ip)
		l4 = u
	case layers.IPProtocolTCP:
		tc := &layers.TCP{SrcPort: layers.TCPPort(f.sport), DstPort: layers.TCPPort(f.dpt), SYN: true}
		tc.SetNetworkLayerForChecksum(ip)
		l4 = tc
	default:
		t.Fatalf("proto %v", f.proto)
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip.(gopacket.SerializableLayer), l4, gopacket.Payload("hello"))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writePcap(t testing.TB, frames [][]byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "in.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

func writePcapng(t testing.TB, frames [][]byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "in.pcapng")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return name
}

func replayCmd(args ...string) (stdout, stderr string, status int) {
	var out, errOut bytes.Buffer
	status = run(append([]string{"replay"}, args...), &out, &errOut)
	return out.String(), errOut.String(), status
}

// refHash is SPEC section 2's hash computed with the bit-by-bit reference,
// independently of the table-driven implementation the command uses.
func refHash(f flow) uint32 {
	var in []byte
	in = append(in, f.src.AsSlice()...)
	in = append(in, f.dst.AsSlice()...)
	in = binary.BigEndian.AppendUint16(in, f.sport)
	in = binary.BigEndian.AppendUint16(in, f.dpt)
	return rss.ReferenceHash(rss.DefaultKey[:], in)
}

func refShift(nq int) uint {
	s := uint(0)
	for 1<<s < nq {
		s++
	}
	return s
}

// refThreshold is SPEC section 3's hash-threshold pick, written out again.
func refThreshold(hash uint32, nq, n int) int {
	s := refShift(nq)
	u := hash >> s
	return int((uint64(u) * uint64(n)) >> (32 - s))
}

func randomFlows(rng *rand.Rand, n int, proto layers.IPProtocol, dst netip.Addr, dport uint16) []flow {
	fl := make([]flow, n)
	for i := range fl {
		var src netip.Addr
		if dst.Is4() {
			src = netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		} else {
			b := dst.As16()
			b[14], b[15] = byte(rng.IntN(256)), byte(rng.IntN(256))
			src = netip.AddrFrom16(b)
		}
		fl[i] = flow{proto: proto, src: src, dst: dst, sport: uint16(1024 + rng.IntN(60000)), dpt: dport}
	}
	return fl
}

// TestReplayTraceMatchesReference checks every -trace line against an
// independent computation of hash, queue and threshold pick.
func TestReplayTraceMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name    string
		queues  int
		members int
		flows   []flow
		bind    string
	}{
		{"udp4 1q 4m", 1, 4, randomFlows(rng, 300, layers.IPProtocolUDP, netip.MustParseAddr("198.18.0.1"), 53), "udp/0.0.0.0:53/4"},
		{"udp4 2q 4m", 2, 4, randomFlows(rng, 300, layers.IPProtocolUDP, netip.MustParseAddr("198.18.0.1"), 53), "udp/0.0.0.0:53/4"},
		{"tcp4 3q 5m", 3, 5, randomFlows(rng, 300, layers.IPProtocolTCP, netip.MustParseAddr("198.18.0.1"), 80), "tcp/198.18.0.1:80/5"},
		{"udp6 4q 8m", 4, 8, randomFlows(rng, 300, layers.IPProtocolUDP, netip.MustParseAddr("2001:db8::1"), 443), "udp/[::]:443/8"},
		{"tcp6 8q 3m", 8, 3, randomFlows(rng, 300, layers.IPProtocolTCP, netip.MustParseAddr("2001:db8::1"), 443), "tcp/[2001:db8::1]:443/3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames := make([][]byte, len(tc.flows))
			for i, f := range tc.flows {
				frames[i] = buildFrame(t, f)
			}
			file := writePcap(t, frames)
			stdout, stderr, status := replayCmd("-pcap", file, "-queues", fmt.Sprint(tc.queues), "-trace", tc.bind)
			if status != 0 {
				t.Fatalf("status %d, stderr %q", status, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if len(lines) != len(tc.flows) {
				t.Fatalf("got %d trace lines, want %d", len(lines), len(tc.flows))
			}
			base, _, _ := strings.Cut(tc.bind[strings.Index(tc.bind, "/")+1:], "/")
			base = tc.bind[:strings.Index(tc.bind, "/")+1] + base
			for i, f := range tc.flows {
				h := refHash(f)
				q := int(h&127) % tc.queues
				want := fmt.Sprintf("%d %08x %d %s#%d", i, h, q, base, refThreshold(h, tc.queues, tc.members))
				if lines[i] != want {
					t.Fatalf("line %d: got %q, want %q", i, lines[i], want)
				}
			}
		})
	}
}

// TestReplayLookupOrder: an exact-address group wins over the wildcard
// group, which wins over a plain wildcard endpoint; other ports and
// protocols stay unmatched.
func TestReplayLookupOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a1, a2 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	var fl []flow
	fl = append(fl, randomFlows(rng, 50, layers.IPProtocolUDP, a1, 53)...)
	fl = append(fl, randomFlows(rng, 50, layers.IPProtocolUDP, a2, 53)...)
	fl = append(fl, randomFlows(rng, 20, layers.IPProtocolUDP, a1, 54)...)
	fl = append(fl, randomFlows(rng, 20, layers.IPProtocolTCP, a1, 53)...)
	fl = append(fl, randomFlows(rng, 10, layers.IPProtocolUDP, a2, 7)...)
	var frames [][]byte
	for _, f := range fl {
		frames = append(frames, buildFrame(t, f))
	}
	file := writePcap(t, frames)
	stdout, stderr, status := replayCmd("-pcap", file, "-json", "-queues", "2",
		"udp/198.18.0.1:53/2", "udp/0.0.0.0:53/3", "udp/0.0.0.0:54", "udp/198.18.0.2:7")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	var res replayResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("json: %v\n%s", err, stdout)
	}
	got := map[string]uint64{}
	for _, e := range res.Endpoints {
		got[e.Name] = e.Packets
	}
	sum := func(prefix string) (n uint64) {
		for name, c := range got {
			if strings.HasPrefix(name, prefix) {
				n += c
			}
		}
		return n
	}
	for _, c := range []struct {
		prefix string
		want   uint64
	}{
		{"udp/198.18.0.1:53#", 50},
		{"udp/0.0.0.0:53#", 50},
		{"udp/0.0.0.0:54#0", 20},
		{"udp/198.18.0.2:7#0", 10},
	} {
		if n := sum(c.prefix); n != c.want {
			t.Errorf("%s*: got %d packets, want %d", c.prefix, n, c.want)
		}
	}
	if res.Packets != 150 || res.Unmatched != 20 || res.Malformed != 0 {
		t.Errorf("got packets %d unmatched %d malformed %d, want 150 20 0", res.Packets, res.Unmatched, res.Malformed)
	}
	if len(res.Endpoints) != 7 || len(res.Queues) != 2 {
		t.Errorf("got %d endpoints and %d queues, want 7 and 2", len(res.Endpoints), len(res.Queues))
	}
}

// TestReplayDemoCaptureAccounting runs the shipped capture through every
// policy: each packet counted exactly once, the malformed ones as such.
func TestReplayDemoCaptureAccounting(t *testing.T) {
	for _, policy := range []string{"threshold", "modulo", "maglev"} {
		stdout, stderr, status := replayCmd("-pcap", "../../testdata/demo.pcap", "-queues", "2", "-policy", policy, "-json",
			"udp/0.0.0.0:53/4", "tcp/0.0.0.0:80/2", "udp/[::]:53/2")
		if status != 0 {
			t.Fatalf("%s: status %d: %s", policy, status, stderr)
		}
		var res replayResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("json: %v", err)
		}
		var delivered, perQueue uint64
		for _, e := range res.Endpoints {
			delivered += e.Packets
			if e.Packets == 0 {
				t.Errorf("%s: endpoint %s got no packet", policy, e.Name)
			}
		}
		for _, q := range res.Queues {
			perQueue += q.Packets
		}
		if delivered+res.Unmatched+res.Malformed != res.Packets || perQueue != res.Packets {
			t.Errorf("%s: delivered %d + unmatched %d + malformed %d != packets %d (queues sum %d)",
				policy, delivered, res.Unmatched, res.Malformed, res.Packets, perQueue)
		}
		// mkpcap writes 20 malformed frames (5 of each kind) and 10 ARP
		// frames, which SPEC counts as an unknown ethertype.
		if res.Malformed != 30 {
			t.Errorf("%s: malformed %d, want 30", policy, res.Malformed)
		}
		// Unmatched: 40 to an unbound port, 10 ICMP, 10 fragments.
		if res.Unmatched != 60 {
			t.Errorf("%s: unmatched %d, want 60", policy, res.Unmatched)
		}
	}
}

func TestReplayPcapngMatchesPcap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var frames [][]byte
	for _, f := range randomFlows(rng, 100, layers.IPProtocolUDP, netip.MustParseAddr("198.18.0.1"), 53) {
		frames = append(frames, buildFrame(t, f))
	}
	a, _, sa := replayCmd("-pcap", writePcap(t, frames), "-trace", "-queues", "4", "udp/0.0.0.0:53/3")
	b, errB, sb := replayCmd("-pcap", writePcapng(t, frames), "-trace", "-queues", "4", "udp/0.0.0.0:53/3")
	if sa != 0 || sb != 0 {
		t.Fatalf("status %d %d: %s", sa, sb, errB)
	}
	if a != b {
		t.Errorf("pcap and pcapng traces differ")
	}
}

func TestReplayBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var frames [][]byte
	for _, f := range randomFlows(rng, 10, layers.IPProtocolUDP, netip.MustParseAddr("198.18.0.1"), 53) {
		frames = append(frames, buildFrame(t, f))
	}
	good := writePcap(t, frames)
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(truncated, raw[:len(raw)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	cutHeader := filepath.Join(t.TempDir(), "cuthdr.pcap")
	if err := os.WriteFile(cutHeader, raw[:len(raw)-len(frames[9])-8], 0o644); err != nil {
		t.Fatal(err)
	}
	ng := writePcapng(t, frames)
	rawNg, err := os.ReadFile(ng)
	if err != nil {
		t.Fatal(err)
	}
	truncatedNg := filepath.Join(t.TempDir(), "cut.pcapng")
	if err := os.WriteFile(truncatedNg, rawNg[:len(rawNg)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	notPcap := filepath.Join(t.TempDir(), "text.pcap")
	if err := os.WriteFile(notPcap, []byte("hello, this is not a capture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		mention    string
		traceLines int
	}{
		{"malformed bind", []string{"-pcap", good, "udp/0.0.0.0"}, "udp/0.0.0.0", 0},
		{"bad proto", []string{"-pcap", good, "sctp/0.0.0.0:53"}, "sctp", 0},
		{"bad count", []string{"-pcap", good, "udp/0.0.0.0:53/0"}, "udp/0.0.0.0:53/0", 0},
		{"bad port", []string{"-pcap", good, "udp/0.0.0.0:99999"}, "99999", 0},
		{"unknown policy", []string{"-pcap", good, "-policy", "random", "udp/0.0.0.0:53"}, "random", 0},
		{"zero queues", []string{"-pcap", good, "-queues", "0", "udp/0.0.0.0:53"}, "-queues 0", 0},
		{"negative queues", []string{"-pcap", good, "-queues", "-3", "udp/0.0.0.0:53"}, "-3", 0},
		{"missing file", []string{"-pcap", "/nonexistent/x.pcap", "udp/0.0.0.0:53"}, "/nonexistent/x.pcap", 0},
		{"not a capture", []string{"-pcap", notPcap, "udp/0.0.0.0:53"}, notPcap, 0},
		{"port in use", []string{"-pcap", good, "udp/0.0.0.0:53", "udp/198.18.0.1:53"}, "udp/198.18.0.1:53", 0},
		{"truncated record", []string{"-pcap", truncated, "-trace", "udp/0.0.0.0:53/2"}, "ends inside a record", 9},
		{"truncated record header", []string{"-pcap", cutHeader, "-trace", "udp/0.0.0.0:53/2"}, "ends inside a record", 9},
		{"truncated pcapng", []string{"-pcap", truncatedNg, "-trace", "udp/0.0.0.0:53/2"}, "ends inside a record", 9},
		{"no pcap flag", []string{"udp/0.0.0.0:53"}, "-pcap", 0},
		{"unknown flag", []string{"-pcap", good, "-frobnicate", "udp/0.0.0.0:53"}, "frobnicate", 0},
		{"indir not numbers", []string{"-pcap", good, "-indir", "0,x", "udp/0.0.0.0:53"}, `"x"`, 0},
		{"indir not a power of two", []string{"-pcap", good, "-indir", "0,1,0", "udp/0.0.0.0:53"}, "power of two", 0},
		{"indir beyond -queues", []string{"-pcap", good, "-queues", "2", "-indir", "0,3", "udp/0.0.0.0:53"}, "queue 3", 0},
		{"rss-iface unknown", []string{"-pcap", good, "-rss-iface", "xnosuch0", "udp/0.0.0.0:53"}, "-rss-iface xnosuch0", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, status := replayCmd(tc.args...)
			if status != 2 {
				t.Errorf("status %d, want 2 (stderr %q)", status, stderr)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.mention) {
				t.Errorf("stderr %q: want one line naming %q", stderr, tc.mention)
			}
			lines := 0
			if stdout != "" {
				lines = strings.Count(stdout, "\n")
			}
			if lines != tc.traceLines {
				t.Errorf("got %d trace lines before the error, want %d:\n%s", lines, tc.traceLines, stdout)
			}
		})
	}
}

// TestReplayBinary builds the command and runs it on the shipped capture,
// as a user would.
func TestReplayBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "xdpmux")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "replay", "-pcap", "../../testdata/demo.pcap", "-queues", "2",
		"udp/0.0.0.0:53/4", "tcp/0.0.0.0:80/2").CombinedOutput()
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	for _, want := range []string{"udp/0.0.0.0:53#3", "tcp/0.0.0.0:80#1", "QUEUE", "bad_ihl"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	cmd := exec.Command(bin, "replay", "-pcap", "../../testdata/demo.pcap", "-policy", "bogus", "udp/0.0.0.0:53/4")
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("bogus policy: err %v, want exit status 2; output %s", err, out)
	}
}

// TestReplayLinkTypes: raw-IP and Linux "cooked" (tcpdump -i any) captures
// of the same packets trace exactly like the Ethernet capture.
func TestReplayLinkTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var eth, raw, sll [][]byte
	flows := append(randomFlows(rng, 40, layers.IPProtocolUDP, netip.MustParseAddr("198.18.0.1"), 53),
		randomFlows(rng, 40, layers.IPProtocolUDP, netip.MustParseAddr("2001:db8::1"), 53)...)
	for _, f := range flows {
		fr := buildFrame(t, f)
		eth = append(eth, fr)
		raw = append(raw, fr[14:])
		hdr := make([]byte, 16)
		copy(hdr[14:], fr[12:14]) // protocol = the ethertype
		sll = append(sll, append(hdr, fr[14:]...))
	}
	write := func(lt layers.LinkType, frames [][]byte) string {
		name := filepath.Join(t.TempDir(), "lt.pcap")
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w := pcapgo.NewWriter(f)
		if err := w.WriteFileHeader(65535, lt); err != nil {
			t.Fatal(err)
		}
		for _, fr := range frames {
			if err := w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(fr), Length: len(fr)}, fr); err != nil {
				t.Fatal(err)
			}
		}
		return name
	}
	args := []string{"-trace", "-queues", "2", "udp/0.0.0.0:53/3", "udp/[::]:53/2"}
	want, stderr, status := replayCmd(append([]string{"-pcap", writePcap(t, eth)}, args...)...)
	if status != 0 {
		t.Fatalf("ethernet: status %d: %s", status, stderr)
	}
	if strings.Contains(want, " -\n") {
		t.Fatalf("ethernet capture has unmatched packets:\n%s", want)
	}
	for _, c := range []struct {
		name   string
		lt     layers.LinkType
		frames [][]byte
	}{{"raw", layers.LinkTypeRaw, raw}, {"sll", layers.LinkTypeLinuxSLL, sll}} {
		got, stderr, status := replayCmd(append([]string{"-pcap", write(c.lt, c.frames)}, args...)...)
		if status != 0 || got != want {
			t.Errorf("%s: status %d (%s), trace differs from the Ethernet capture's", c.name, status, stderr)
		}
	}
}
