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

// udp6Checksum is the UDP checksum of an IPv6 frame b computed the slow
// way (RFC 8200 pseudo-header), over a copy with the field zeroed.
func udp6Checksum(b []byte) uint16 {
	c := append([]byte(nil), b...)
	c[off6UDPCsum], c[off6UDPCsum+1] = 0, 0
	var ph []byte
	ph = append(ph, c[off6SrcIP:off6SrcPort]...)
	ph = binary.BigEndian.AppendUint32(ph, uint32(len(c)-off6SrcPort))
	ph = append(ph, 0, 0, 0, 17)
	ph = append(ph, c[off6SrcPort:]...)
	if len(ph)%2 == 1 {
		ph = append(ph, 0)
	}
	var sum uint64
	for i := 0; i < len(ph); i += 2 {
		sum += uint64(ph[i])<<8 | uint64(ph[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	s := ^uint16(sum)
	if s == 0 {
		s = 0xffff
	}
	return s
}

// TestTemplatesDecode6 decodes IPv6 templates and stamped frames: header
// fields, distinct sources, the payload header, and a UDP checksum that
// verifies for every sequence number stamped (odd sizes included).
func TestTemplatesDecode6(t *testing.T) {
	dst := netip.MustParseAddrPort("[2001:2:0:7::2]:4242")
	for _, tt := range []struct {
		size, flows int
		src         string
	}{
		{MinSize6, 1, "2001:2:0:7::1/128"},
		{79, 300, "2001:2:0:7::1/128"},
		{1514, 1000, "2001:2:0:8::/120"},
		{128, 600, "2001:2:0:9::/126"},
	} {
		src := netip.MustParsePrefix(tt.src)
		fr := buildFrames(tt.size, tt.flows, src, dst, testSrcMAC, testDstMAC)
		if fr.payloadOffset() != 62 {
			t.Fatalf("payload offset %d, want 62", fr.payloadOffset())
		}
		seen := map[netip.AddrPort]int{}
		for f := range tt.flows {
			seq := uint64(f)*0x9e3779b97f4a7c15 + uint64(f) // all words in play
			b := fr.template(f, seq)
			p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
			ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if ip == nil || udp == nil {
				t.Fatalf("size %d flow %d: layers %v", tt.size, f, p.Layers())
			}
			if ip.Version != 6 || ip.HopLimit != 64 || ip.NextHeader != layers.IPProtocolUDP || int(ip.Length) != tt.size-54 {
				t.Errorf("flow %d: IPv6 header %+v", f, ip)
			}
			sa, _ := netip.AddrFromSlice(ip.SrcIP)
			da, _ := netip.AddrFromSlice(ip.DstIP)
			if !src.Contains(sa) || da != dst.Addr() {
				t.Errorf("flow %d: %s > %s, want from %s to %s", f, sa, da, src, dst.Addr())
			}
			key := netip.AddrPortFrom(sa, uint16(udp.SrcPort))
			if g, dup := seen[key]; dup {
				t.Errorf("flows %d and %d share source %s", g, f, key)
			}
			seen[key] = f
			if int(udp.DstPort) != int(dst.Port()) || int(udp.Length) != tt.size-54 {
				t.Errorf("flow %d: UDP %+v", f, udp)
			}
			if want := udp6Checksum(b); udp.Checksum != want {
				t.Errorf("size %d flow %d seq %#x: UDP checksum %#04x, want %#04x", tt.size, f, seq, udp.Checksum, want)
			}
			gf, gs, ok := ParsePayload(udp.Payload)
			if !ok || int(gf) != f || gs != seq {
				t.Errorf("flow %d: payload header %d %d %v, want %d %d", f, gf, gs, ok, f, seq)
			}
		}
		// A cursor's stamps over the same buffer verify too.
		c := newCursor(fr, 0, 1)
		b := append([]byte(nil), fr.base...)
		for range 3 * tt.flows {
			c.stampNext(b)
			if got, want := binary.BigEndian.Uint16(b[off6UDPCsum:]), udp6Checksum(b); got != want {
				t.Fatalf("size %d: stamped checksum %#04x, want %#04x", tt.size, got, want)
			}
		}
	}
}

func TestStampAllocs6(t *testing.T) {
	fr := buildFrames(MinSize6, 1024, netip.MustParsePrefix("2001:2::1/128"),
		netip.MustParseAddrPort("[2001:2::2]:9"), testSrcMAC, testDstMAC)
	c := newCursor(fr, 0, 1)
	buf := append([]byte(nil), fr.base...)
	if n := testing.AllocsPerRun(100, func() {
		for range 64 {
			c.stampNext(buf)
		}
	}); n != 0 {
		t.Errorf("stamping IPv6 frames allocates %v times, want 0", n)
	}
}
