//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package xdpprog

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// The program's parser, exercised through BPF_PROG_TEST_RUN on hand-built
// frames, without any interface. The objects are loaded in drop-claimed mode,
// so a claimed frame returns XDP_DROP and anything else XDP_PASS.

const (
	xdpDrop = 1
	xdpPass = 2
)

var testClaims = map[[2]uint16]bool{
	{uint16(ProtoUDP), 53}:  true,
	{uint16(ProtoTCP), 443}: true,
}

func loadForTest(t testing.TB) *xdpmuxObjects {
	t.Helper()
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	objs := new(xdpmuxObjects)
	if err := loadXdpmuxObjects(objs, nil); err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { objs.Close() })
	p := &Program{objs: objs}
	for k := range testClaims {
		if err := p.Claim(uint8(k[0]), k[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.setConfig(configDropClaimed); err != nil {
		t.Fatal(err)
	}
	return objs
}

func run(t testing.TB, objs *xdpmuxObjects, frame []byte) uint32 {
	t.Helper()
	ret, err := objs.Xdpmux.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("test run on % x: %v", frame, err)
	}
	return ret
}

// frame builder
type fb struct{ b []byte }

func newFrame(ethertype uint16, vlans ...uint16) *fb {
	f := &fb{b: make([]byte, 12, 128)}
	copy(f.b, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2})
	for _, tpid := range vlans {
		f.b = binary.BigEndian.AppendUint16(f.b, tpid)
		f.b = binary.BigEndian.AppendUint16(f.b, 100) // TCI
	}
	f.b = binary.BigEndian.AppendUint16(f.b, ethertype)
	return f
}

// ipv4 appends an IPv4 header with ihl words (options zero).
func (f *fb) ipv4(proto uint8, ihl int, fragOff uint16) *fb {
	h := make([]byte, max(ihl, 5)*4)
	h[0] = 0x40 | byte(ihl&0xf)
	binary.BigEndian.PutUint16(h[2:], 60)
	binary.BigEndian.PutUint16(h[6:], fragOff)
	h[8] = 64
	h[9] = proto
	copy(h[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	f.b = append(f.b, h...)
	return f
}

// ipv6 appends an IPv6 header followed by extension headers exts (each
// 8 bytes, the fragment header too), the last pointing at proto.
func (f *fb) ipv6(proto uint8, exts ...uint8) *fb {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], 40)
	next := proto
	if len(exts) > 0 {
		next = exts[0]
	}
	h[6] = next
	h[7] = 64
	h[8], h[23] = 0xfd, 1
	h[24], h[39] = 0xfd, 2
	f.b = append(f.b, h...)
	for i := range exts {
		nh := proto
		if i+1 < len(exts) {
			nh = exts[i+1]
		}
		f.b = append(f.b, nh, 0, 0, 0, 0, 0, 0, 0)
	}
	return f
}

func (f *fb) l4(sport, dport uint16, n int) *fb {
	h := make([]byte, n)
	binary.BigEndian.PutUint16(h[0:], sport)
	if n >= 4 {
		binary.BigEndian.PutUint16(h[2:], dport)
	}
	f.b = append(f.b, h...)
	return f
}

func (f *fb) raw(b ...byte) *fb { f.b = append(f.b, b...); return f }

// refVerdict is the reference model of the program in drop-claimed mode.
func refVerdict(frame []byte) uint32 {
	if len(frame) < 14 {
		return xdpPass
	}
	proto := binary.BigEndian.Uint16(frame[12:])
	off := 14
	for range 2 {
		if proto != 0x8100 && proto != 0x88a8 && proto != 0x9100 {
			break
		}
		if len(frame) < off+4 {
			return xdpPass
		}
		proto = binary.BigEndian.Uint16(frame[off+2:])
		off += 4
	}
	var l4 uint8
	switch proto {
	case 0x0800:
		if len(frame) < off+20 {
			return xdpPass
		}
		ihl := int(frame[off] & 0xf)
		if ihl < 5 || binary.BigEndian.Uint16(frame[off+6:])&0x3fff != 0 {
			return xdpPass
		}
		l4 = frame[off+9]
		off += ihl * 4
	case 0x86dd:
		if len(frame) < off+40 {
			return xdpPass
		}
		l4 = frame[off+6]
		off += 40
		for range 4 {
			if l4 != 0 && l4 != 43 && l4 != 60 {
				break
			}
			if len(frame) < off+2 {
				return xdpPass
			}
			l4, off = frame[off], off+(int(frame[off+1])+1)*8
		}
	default:
		return xdpPass
	}
	if l4 != 6 && l4 != 17 || len(frame) < off+4 {
		return xdpPass
	}
	if testClaims[[2]uint16{uint16(l4), binary.BigEndian.Uint16(frame[off+2:])}] {
		return xdpDrop
	}
	return xdpPass
}

func parseCases() []struct {
	name  string
	frame []byte
	want  uint32
} {
	const udp, tcp, icmp = 17, 6, 1
	const hop, rt, dst, frag = 0, 43, 60, 44
	return []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"udp4 claimed", newFrame(0x0800).ipv4(udp, 5, 0).l4(1234, 53, 8).b, xdpDrop},
		{"udp4 unclaimed", newFrame(0x0800).ipv4(udp, 5, 0).l4(1234, 54, 8).b, xdpPass},
		{"tcp4 claimed", newFrame(0x0800).ipv4(tcp, 5, 0).l4(1234, 443, 20).b, xdpDrop},
		{"udp4 to tcp-only port", newFrame(0x0800).ipv4(udp, 5, 0).l4(1234, 443, 8).b, xdpPass},
		{"tcp4 to udp-only port", newFrame(0x0800).ipv4(tcp, 5, 0).l4(1234, 53, 20).b, xdpPass},
		{"udp4 claimed source port only", newFrame(0x0800).ipv4(udp, 5, 0).l4(53, 1234, 8).b, xdpPass},
		{"ipv4 options", newFrame(0x0800).ipv4(udp, 7, 0).l4(1234, 53, 8).b, xdpDrop},
		{"ipv4 ihl 4", newFrame(0x0800).ipv4(udp, 4, 0).l4(1234, 53, 8).b, xdpPass},
		{"ipv4 DF", newFrame(0x0800).ipv4(udp, 5, 0x4000).l4(1234, 53, 8).b, xdpDrop},
		{"ipv4 MF", newFrame(0x0800).ipv4(udp, 5, 0x2000).l4(1234, 53, 8).b, xdpPass},
		{"ipv4 fragment offset", newFrame(0x0800).ipv4(udp, 5, 0x0010).l4(1234, 53, 8).b, xdpPass},
		{"icmp4", newFrame(0x0800).ipv4(icmp, 5, 0).raw(8, 0, 0, 53, 0, 0, 0, 0).b, xdpPass},
		{"arp", newFrame(0x0806).raw(make([]byte, 28)...).b, xdpPass},
		{"vlan", newFrame(0x0800, 0x8100).ipv4(udp, 5, 0).l4(1, 53, 8).b, xdpDrop},
		{"qinq 88a8", newFrame(0x0800, 0x88a8, 0x8100).ipv4(udp, 5, 0).l4(1, 53, 8).b, xdpDrop},
		{"qinq 9100", newFrame(0x0800, 0x9100, 0x8100).ipv4(tcp, 5, 0).l4(1, 443, 20).b, xdpDrop},
		{"three vlan tags", newFrame(0x0800, 0x8100, 0x8100, 0x8100).ipv4(udp, 5, 0).l4(1, 53, 8).b, xdpPass},
		{"vlan truncated", newFrame(0x8100).raw(0, 1).b, xdpPass},
		{"udp6 claimed", newFrame(0x86dd).ipv6(udp).l4(1, 53, 8).b, xdpDrop},
		{"tcp6 claimed", newFrame(0x86dd).ipv6(tcp).l4(1, 443, 20).b, xdpDrop},
		{"udp6 unclaimed", newFrame(0x86dd).ipv6(udp).l4(1, 5353, 8).b, xdpPass},
		{"udp6 vlan", newFrame(0x86dd, 0x8100).ipv6(udp).l4(1, 53, 8).b, xdpDrop},
		{"udp6 hop dst", newFrame(0x86dd).ipv6(udp, hop, dst).l4(1, 53, 8).b, xdpDrop},
		{"udp6 four ext", newFrame(0x86dd).ipv6(udp, hop, rt, dst, dst).l4(1, 53, 8).b, xdpDrop},
		{"udp6 five ext", newFrame(0x86dd).ipv6(udp, hop, rt, dst, dst, dst).l4(1, 53, 8).b, xdpPass},
		{"udp6 fragment", newFrame(0x86dd).ipv6(udp, frag).l4(1, 53, 8).b, xdpPass},
		{"udp6 dst fragment", newFrame(0x86dd).ipv6(udp, dst, frag).l4(1, 53, 8).b, xdpPass},
		{"icmp6", newFrame(0x86dd).ipv6(58).raw(128, 0, 0, 0, 0, 53, 0, 0).b, xdpPass},
		{"ipv6 ext truncated", newFrame(0x86dd).ipv6(udp, hop).b[:14+40+1], xdpPass},
		{"ipv4 truncated", newFrame(0x0800).ipv4(udp, 5, 0).b[:14+19], xdpPass},
		{"ipv4 options truncated", newFrame(0x0800).ipv4(udp, 8, 0).b, xdpPass},
		{"udp truncated", newFrame(0x0800).ipv4(udp, 5, 0).l4(1, 53, 3).b, xdpPass},
		{"udp ports only", newFrame(0x0800).ipv4(udp, 5, 0).l4(1, 53, 4).b, xdpDrop},
		{"ethernet only", newFrame(0x0800).b, xdpPass},
		{"unknown ethertype", newFrame(0x88cc).raw(make([]byte, 40)...).b, xdpPass},
	}
}

func TestParse(t *testing.T) {
	objs := loadForTest(t)
	drops := 0
	cases := parseCases()
	for _, tt := range cases {
		if ref := refVerdict(tt.frame); ref != tt.want {
			t.Errorf("%s: reference model says %d, want %d", tt.name, ref, tt.want)
		}
		if got := run(t, objs, tt.frame); got != tt.want {
			t.Errorf("%s: program returned %d, want %d (frame % x)", tt.name, got, tt.want, tt.frame)
		}
		if tt.want == xdpDrop {
			drops++
		}
	}
	// BPF_PROG_TEST_RUN reports rx queue 0.
	p := &Program{objs: objs}
	cs, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	want := QueueCounters{Queue: 0, Dropped: uint64(drops), Passed: uint64(len(cases) - drops)}
	if len(cs) != 1 || cs[0] != want {
		t.Errorf("counters %+v, want [%+v]", cs, want)
	}

	// Redirect mode with no socket in xsks: claimed frames pass too and
	// count as passed.
	if err := p.setConfig(0); err != nil {
		t.Fatal(err)
	}
	for _, tt := range cases {
		if got := run(t, objs, tt.frame); got != xdpPass {
			t.Errorf("%s, redirect mode without socket: program returned %d, want XDP_PASS", tt.name, got)
		}
	}
	cs, _ = p.Counters()
	want.Passed += uint64(len(cases))
	if len(cs) != 1 || cs[0] != want {
		t.Errorf("counters %+v, want [%+v]", cs, want)
	}
}

// FuzzParse checks the program against the reference model on arbitrary
// frames (needs root to load the program).
func FuzzParse(f *testing.F) {
	for _, tt := range parseCases() {
		f.Add(tt.frame)
	}
	objs := loadForTest(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 1500 {
			return // BPF_PROG_TEST_RUN rejects frames shorter than Ethernet
		}
		if got, want := run(t, objs, frame), refVerdict(frame); got != want {
			t.Errorf("program returned %d, reference %d, frame % x", got, want, frame)
		}
	})
}

// BenchmarkProgram measures the program itself per frame through
// BPF_PROG_TEST_RUN's repeat loop (in-kernel, no interface): ns/op is the
// cost of one verdict.
func BenchmarkProgram(b *testing.B) {
	objs := loadForTest(b)
	for _, tt := range []struct {
		name  string
		frame []byte
	}{
		{"udp4-claimed-drop", newFrame(0x0800).ipv4(17, 5, 0).l4(1234, 53, 8).raw(make([]byte, 18)...).b},
		{"udp4-unclaimed-pass", newFrame(0x0800).ipv4(17, 5, 0).l4(1234, 54, 8).raw(make([]byte, 18)...).b},
		{"udp6-qinq-ext-drop", newFrame(0x86dd, 0x88a8, 0x8100).ipv6(17, 0, 60).l4(1, 53, 8).b},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			_, per, err := objs.Xdpmux.Benchmark(tt.frame, b.N, b.ResetTimer)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(per.Nanoseconds()), "ns/frame")
			b.ReportMetric(1e3/float64(max(per.Nanoseconds(), 1)), "Mpps")
		})
	}
}
