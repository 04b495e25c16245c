package txgen

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	testSrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	testDstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// TestTemplatesDecode decodes every flow's template with gopacket and
// checks each header field, the IPv4 checksum and the payload header.
func TestTemplatesDecode(t *testing.T) {
	dst := netip.MustParseAddrPort("198.18.7.2:4242")
	for _, tt := range []struct {
		size, flows int
		src         string
	}{
		{60, 1, "198.18.7.1/32"},
		{64, 300, "198.18.7.1/32"},
		{1514, 1000, "198.18.8.0/24"},
		{128, 600, "198.18.9.0/30"},
	} {
		src := netip.MustParsePrefix(tt.src)
		fr := buildFrames(tt.size, tt.flows, src, dst, testSrcMAC, testDstMAC)
		seen := map[netip.AddrPort]int{}
		for f := range tt.flows {
			seq := uint64(f) * 977
			b := fr.template(f, seq)
			if len(b) != tt.size {
				t.Fatalf("size %d flow %d: len %d", tt.size, f, len(b))
			}
			p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
			if el := p.ErrorLayer(); el != nil {
				t.Fatalf("size %d flow %d: decode: %v", tt.size, f, el.Error())
			}
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if eth == nil || ip == nil || udp == nil {
				t.Fatalf("size %d flow %d: layers %v", tt.size, f, p.Layers())
			}
			if eth.SrcMAC.String() != testSrcMAC.String() || eth.DstMAC.String() != testDstMAC.String() {
				t.Errorf("flow %d: MACs %s > %s", f, eth.SrcMAC, eth.DstMAC)
			}
			if ip.Version != 4 || ip.IHL != 5 || ip.TTL != 64 || ip.Protocol != layers.IPProtocolUDP ||
				int(ip.Length) != tt.size-14 || ip.Flags != layers.IPv4DontFragment || ip.FragOffset != 0 {
				t.Errorf("flow %d: IPv4 header %+v", f, ip)
			}
			if ipChecksum(b[14:34]) != 0 {
				t.Errorf("flow %d: IPv4 checksum %#04x does not verify", f, ip.Checksum)
			}
			// Recompute as gopacket would on serialization.
			hdr := append([]byte(nil), b[14:34]...)
			hdr[10], hdr[11] = 0, 0
			if got := ipChecksum(hdr); got != ip.Checksum {
				t.Errorf("flow %d: checksum %#04x, want %#04x", f, ip.Checksum, got)
			}
			sa, _ := netip.AddrFromSlice(ip.SrcIP)
			da, _ := netip.AddrFromSlice(ip.DstIP)
			if !src.Contains(sa) || da != dst.Addr() {
				t.Errorf("flow %d: %s > %s, want from %s to %s", f, sa, da, src, dst.Addr())
			}
			if int(udp.DstPort) != int(dst.Port()) || int(udp.Length) != tt.size-34 || udp.Checksum != 0 {
				t.Errorf("flow %d: UDP %+v", f, udp)
			}
			if udp.SrcPort < FirstSrcPort {
				t.Errorf("flow %d: source port %d", f, udp.SrcPort)
			}
			key := netip.AddrPortFrom(sa, uint16(udp.SrcPort))
			if g, dup := seen[key]; dup {
				t.Errorf("flows %d and %d share source %s", g, f, key)
			}
			seen[key] = f
			gf, gs, ok := ParsePayload(udp.Payload)
			if !ok || int(gf) != f || gs != seq {
				t.Errorf("flow %d: payload header %d %d %v, want %d %d", f, gf, gs, ok, f, seq)
			}
			if len(udp.Payload) != tt.size-42 {
				t.Errorf("flow %d: payload %d bytes", f, len(udp.Payload))
			}
		}
	}
}

func TestParsePayload(t *testing.T) {
	b := make([]byte, PayloadHeaderLen)
	if _, _, ok := ParsePayload(b); ok {
		t.Error("zero payload accepted")
	}
	binary.BigEndian.PutUint32(b, PayloadMagic)
	binary.BigEndian.PutUint32(b[4:], 7)
	binary.BigEndian.PutUint64(b[8:], 1<<40)
	if f, s, ok := ParsePayload(b); !ok || f != 7 || s != 1<<40 {
		t.Errorf("ParsePayload = %d %d %v", f, s, ok)
	}
	if _, _, ok := ParsePayload(b[:15]); ok {
		t.Error("short payload accepted")
	}
}

// TestCursor checks that senders split the flows without overlap and
// number each flow's frames from 0.
func TestCursor(t *testing.T) {
	fr := buildFrames(64, 10, netip.MustParsePrefix("198.18.0.1/32"),
		netip.MustParseAddrPort("198.18.0.2:9"), testSrcMAC, testDstMAC)
	const senders = 3
	count := map[uint32]uint64{}
	for s := range senders {
		c := newCursor(fr, s, senders)
		b := append([]byte(nil), fr.base...)
		for range 4 * len(c.flows) {
			c.stampNext(b)
			f, seq, ok := ParsePayload(b[offPayload:])
			if !ok || int(f)%senders != s {
				t.Fatalf("sender %d sent flow %d", s, f)
			}
			if seq != count[f] {
				t.Fatalf("flow %d: seq %d, want %d", f, seq, count[f])
			}
			count[f]++
		}
	}
	if len(count) != 10 {
		t.Errorf("%d flows sent, want 10", len(count))
	}
}

func TestStampAllocs(t *testing.T) {
	fr := buildFrames(64, 1024, netip.MustParsePrefix("198.18.0.1/32"),
		netip.MustParseAddrPort("198.18.0.2:9"), testSrcMAC, testDstMAC)
	c := newCursor(fr, 0, 1)
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = append([]byte(nil), fr.base...)
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, b := range bufs {
			c.stampNext(b)
		}
	}); n != 0 {
		t.Errorf("stamping a batch allocates %v times, want 0", n)
	}
}

func BenchmarkStamp(b *testing.B) {
	fr := buildFrames(64, 1024, netip.MustParsePrefix("198.18.0.1/32"),
		netip.MustParseAddrPort("198.18.0.2:9"), testSrcMAC, testDstMAC)
	c := newCursor(fr, 0, 1)
	buf := append([]byte(nil), fr.base...)
	b.ReportAllocs()
	for b.Loop() {
		c.stampNext(buf)
	}
}

// TestPacerBound checks that the pacer never lets more through than the
// rate allows plus its burst (an upper bound: a slow machine only sends
// less).
func TestPacerBound(t *testing.T) {
	const rate = 20000.0
	p := newPacer(rate, 64)
	never := func() bool { return false }
	start := time.Now()
	sent := 0
	for time.Since(start) < 200*time.Millisecond {
		n := p.take(64, never)
		if n < 1 || n > 64 {
			t.Fatalf("take = %d", n)
		}
		sent += n
	}
	limit := rate*time.Since(start).Seconds() + p.max + p.want
	if float64(sent) > limit {
		t.Errorf("sent %d in %v at %v pps, above %v", sent, time.Since(start), rate, limit)
	}
	if sent == 0 {
		t.Error("nothing sent")
	}
	stopNow := func() bool { return true }
	p = newPacer(1, 64)
	p.tokens = 0
	if n := p.take(64, stopNow); n != 0 {
		t.Errorf("take after stop = %d, want 0", n)
	}
	unpaced := newPacer(0, 64)
	if n := unpaced.take(64, never); n != 64 {
		t.Errorf("unpaced take = %d, want 64", n)
	}
}

func FuzzParsePayload(f *testing.F) {
	fr := buildFrames(64, 4, netip.MustParsePrefix("198.18.0.1/32"),
		netip.MustParseAddrPort("198.18.0.2:9"), testSrcMAC, testDstMAC)
	f.Add(fr.template(3, 12345)[offPayload:])
	f.Add([]byte{})
	f.Add([]byte("xmgn"))
	f.Fuzz(func(t *testing.T, p []byte) {
		flow, seq, ok := ParsePayload(p)
		if !ok {
			return
		}
		b := make([]byte, PayloadHeaderLen)
		binary.BigEndian.PutUint32(b, PayloadMagic)
		binary.BigEndian.PutUint32(b[4:], flow)
		binary.BigEndian.PutUint64(b[8:], seq)
		if string(b) != string(p[:PayloadHeaderLen]) {
			t.Errorf("ParsePayload(%x) = %d %d, which does not round-trip", p, flow, seq)
		}
	})
}
