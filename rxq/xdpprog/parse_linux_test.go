//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package xdpprog

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// The program's parser, exercised through BPF_PROG_TEST_RUN on hand-built
// frames, without any interface. The objects are loaded in drop-claimed mode,
// so a claimed frame returns XDP_DROP and anything else XDP_PASS.

var (
	testMAC   = net.HardwareAddr{2, 0, 0, 0, 0, 1} // the "interface's" MAC
	otherMAC  = net.HardwareAddr{2, 0, 0, 0, 0, 9} // a macvlan child's
	bcastMAC  = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mcastMAC  = net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	testSrc4  = netip.MustParseAddr("198.18.0.1")
	testDst4  = netip.MustParseAddr("198.18.0.2")
	testSrc6  = netip.MustParseAddr("2001:2::1")
	testDst6  = netip.MustParseAddr("2001:2::2")
	otherDst4 = netip.MustParseAddr("198.18.0.3")
	otherDst6 = netip.MustParseAddr("2001:2::3")
)

type testClaim struct {
	proto uint8
	addr  netip.Addr
	port  uint16
}

var testClaims = map[testClaim]bool{
	{ProtoUDP, testDst4, 53}:   true,
	{ProtoTCP, testDst4, 443}:  true,
	{ProtoUDP, testDst6, 53}:   true,
	{ProtoTCP, testDst6, 443}:  true,
	{ProtoUDP, otherDst4, 54}:  true, // port 54 on another address only
	{ProtoUDP, otherDst6, 54}:  true,
	{ProtoTCP, otherDst4, 444}: true,
}

// loadForTest loads the objects without attaching them, with testClaims
// claimed, testMAC as the interface's MAC and drop-claimed mode on.
func loadForTest(t testing.TB) *Program {
	t.Helper()
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	objs, err := loadObjects(0, false)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { objs.Close() })
	p := &Program{objs: objs, mac: testMAC, flags: configDropClaimed}
	for k := range testClaims {
		if err := p.Claim(k.proto, k.addr, k.port); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.writeConfig(); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t testing.TB, p *Program, frame []byte) uint32 {
	t.Helper()
	ret, err := p.objs.Xdpmux.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("test run on % x: %v", frame, err)
	}
	return ret
}

// frame builder. done fixes the IP and UDP lengths and the TCP data offset
// to cover the frame as built.
type fb struct {
	b                []byte
	src4, dst4       netip.Addr
	src6, dst6       netip.Addr
	l3, l4off, ipver int
	l4proto          uint8
}

func newFrame(ethertype uint16, vlans ...uint16) *fb {
	return newFrameTo(testMAC, ethertype, vlans...)
}

func newFrameTo(dst net.HardwareAddr, ethertype uint16, vlans ...uint16) *fb {
	f := &fb{b: make([]byte, 12, 256), src4: testSrc4, dst4: testDst4, src6: testSrc6, dst6: testDst6}
	copy(f.b, dst)
	copy(f.b[6:], []byte{2, 0, 0, 0, 0, 2})
	for _, tpid := range vlans {
		f.b = binary.BigEndian.AppendUint16(f.b, tpid)
		f.b = binary.BigEndian.AppendUint16(f.b, 100) // TCI
	}
	f.b = binary.BigEndian.AppendUint16(f.b, ethertype)
	return f
}

// to sets the destination address of the IP header built next.
func (f *fb) to(dst netip.Addr) *fb {
	if dst.Is4() {
		f.dst4 = dst
	} else {
		f.dst6 = dst
	}
	return f
}

// from sets the source address of the IP header built next.
func (f *fb) from(src netip.Addr) *fb {
	if src.Is4() {
		f.src4 = src
	} else {
		f.src6 = src
	}
	return f
}

// ipv4 appends an IPv4 header with ihl words (options zero).
func (f *fb) ipv4(proto uint8, ihl int, fragOff uint16) *fb {
	h := make([]byte, max(ihl, 5)*4)
	h[0] = 0x40 | byte(ihl&0xf)
	binary.BigEndian.PutUint16(h[6:], fragOff)
	h[8] = 64
	h[9] = proto
	s, d := f.src4.As4(), f.dst4.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	f.l3, f.ipver, f.l4proto = len(f.b), 4, proto
	f.b = append(f.b, h...)
	f.l4off = len(f.b)
	return f
}

// Extension header types.
const (
	extHop  = 0
	extRt   = 43
	extFrag = 44
	extAH   = 51
	extDst  = 60
)

// ipv6 appends an IPv6 header followed by extension headers exts, the last
// pointing at proto: 8 bytes each, except AH which is 12 (hdrlen 1).
func (f *fb) ipv6(proto uint8, exts ...uint8) *fb {
	h := make([]byte, 40)
	h[0] = 0x60
	next := proto
	if len(exts) > 0 {
		next = exts[0]
	}
	h[6] = next
	h[7] = 64
	s, d := f.src6.As16(), f.dst6.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	f.l3, f.ipver, f.l4proto = len(f.b), 6, proto
	f.b = append(f.b, h...)
	for i, e := range exts {
		nh := proto
		if i+1 < len(exts) {
			nh = exts[i+1]
		}
		if e == extAH {
			f.b = append(f.b, nh, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
		} else {
			f.b = append(f.b, nh, 0, 0, 0, 0, 0, 0, 0)
		}
	}
	f.l4off = len(f.b)
	return f
}

// l4 appends n bytes of UDP or TCP header (and payload) with the ports.
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

// done returns the frame with the IP lengths, the UDP length and the TCP
// data offset set to what was built.
func (f *fb) done() []byte {
	b := f.b
	switch f.ipver {
	case 4:
		binary.BigEndian.PutUint16(b[f.l3+2:], uint16(len(b)-f.l3))
	case 6:
		binary.BigEndian.PutUint16(b[f.l3+4:], uint16(len(b)-f.l3-40))
	}
	if f.ipver != 0 {
		n := len(b) - f.l4off
		switch {
		case f.l4proto == 17 && n >= 8:
			binary.BigEndian.PutUint16(b[f.l4off+4:], uint16(n))
		case f.l4proto == 6 && n >= 20:
			b[f.l4off+12] = 5 << 4
		}
	}
	return b
}

// set returns a copy of frame with v written at off.
func set(frame []byte, off int, v ...byte) []byte {
	b := append([]byte(nil), frame...)
	copy(b[off:], v)
	return b
}

// refVerdict is the reference model of the program in drop-claimed mode,
// with testMAC as the interface's MAC and no kernel sockets. It follows
// dataplane/packet.Parse: a frame is claimed if Parse would accept it as
// non-fragmented UDP or TCP and its (proto, dst addr, dst port) is claimed.
func refVerdict(frame []byte) uint32 {
	if len(frame) < 14 || !bytes.Equal(frame[:6], testMAC) {
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
	var (
		l4  uint8
		end int
		dst netip.Addr
	)
	switch proto {
	case 0x0800:
		h := frame[off:]
		if len(h) < 20 || h[0]>>4 != 4 {
			return xdpPass
		}
		hl := int(h[0]&0xf) * 4
		tot := int(binary.BigEndian.Uint16(h[2:]))
		if hl < 20 || tot < hl || tot > len(h) || binary.BigEndian.Uint16(h[6:])&0x3fff != 0 {
			return xdpPass
		}
		l4 = h[9]
		dst = netip.AddrFrom4([4]byte(h[16:20]))
		end = off + tot
		off += hl
	case 0x86dd:
		h := frame[off:]
		if len(h) < 40 || h[0]>>4 != 6 {
			return xdpPass
		}
		pl := int(binary.BigEndian.Uint16(h[4:]))
		if pl == 0 || 40+pl > len(h) {
			return xdpPass
		}
		l4 = h[6]
		dst = netip.AddrFrom16([16]byte(h[24:40]))
		end = off + 40 + pl
		off += 40
		for n := 0; l4 == 0 || l4 == 43 || l4 == 60 || l4 == 51 || l4 == 44; n++ {
			if l4 == 44 || n == 8 || end-off < 8 {
				return xdpPass
			}
			hl := (int(frame[off+1]) + 1) * 8
			if l4 == 51 {
				hl = (int(frame[off+1]) + 2) * 4
			}
			if hl > end-off {
				return xdpPass
			}
			l4, off = frame[off], off+hl
		}
	default:
		return xdpPass
	}
	n := end - off
	switch l4 {
	case 17:
		if n < 8 {
			return xdpPass
		}
		if ul := int(binary.BigEndian.Uint16(frame[off+4:])); ul < 8 || ul > n {
			return xdpPass
		}
	case 6:
		if n < 20 {
			return xdpPass
		}
		if hl := int(frame[off+12]>>4) * 4; hl < 20 || hl > n {
			return xdpPass
		}
	default:
		return xdpPass
	}
	if testClaims[testClaim{l4, dst, binary.BigEndian.Uint16(frame[off+2:])}] {
		return xdpDrop
	}
	return xdpPass
}

type parseCase struct {
	name  string
	frame []byte
	want  uint32
}

func parseCases() []parseCase {
	const udp, tcp, icmp = 17, 6, 1
	const hop, rt, dst, frag, ah = extHop, extRt, extDst, extFrag, extAH
	u4 := func() *fb { return newFrame(0x0800).ipv4(udp, 5, 0) }
	u6 := func(exts ...uint8) *fb { return newFrame(0x86dd).ipv6(udp, exts...) }
	good4 := u4().l4(1234, 53, 8).done()
	goodTCP4 := newFrame(0x0800).ipv4(tcp, 5, 0).l4(1234, 443, 20).done()
	good6 := u6().l4(1, 53, 8).done()
	goodTCP6 := newFrame(0x86dd).ipv6(tcp).l4(1, 443, 20).done()
	eight := []uint8{hop, ah, rt, dst, ah, dst, rt, dst}
	return []parseCase{
		{"udp4 claimed", good4, xdpDrop},
		{"udp4 unclaimed", u4().l4(1234, 55, 8).done(), xdpPass},
		{"tcp4 claimed", goodTCP4, xdpDrop},
		{"tcp4 with payload", newFrame(0x0800).ipv4(tcp, 5, 0).l4(1234, 443, 60).done(), xdpDrop},
		{"udp4 to tcp-only port", u4().l4(1234, 443, 8).done(), xdpPass},
		{"tcp4 to udp-only port", newFrame(0x0800).ipv4(tcp, 5, 0).l4(1234, 53, 20).done(), xdpPass},
		{"udp4 claimed source port only", u4().l4(53, 1234, 8).done(), xdpPass},
		{"udp4 port claimed on other address", u4().l4(1234, 54, 8).done(), xdpPass},
		{"udp4 other address", newFrame(0x0800).to(otherDst4).ipv4(udp, 5, 0).l4(1234, 53, 8).done(), xdpPass},
		{"udp4 other address claimed", newFrame(0x0800).to(otherDst4).ipv4(udp, 5, 0).l4(1234, 54, 8).done(), xdpDrop},
		{"tcp4 other address claimed", newFrame(0x0800).to(otherDst4).ipv4(tcp, 5, 0).l4(1234, 444, 20).done(), xdpDrop},
		{"udp4 other MAC", newFrameTo(otherMAC, 0x0800).ipv4(udp, 5, 0).l4(1234, 53, 8).done(), xdpPass},
		{"udp4 broadcast MAC", newFrameTo(bcastMAC, 0x0800).ipv4(udp, 5, 0).l4(1234, 53, 8).done(), xdpPass},
		{"udp4 multicast MAC", newFrameTo(mcastMAC, 0x0800).ipv4(udp, 5, 0).l4(1234, 53, 8).done(), xdpPass},
		{"udp4 MAC differs in byte 5", set(good4, 5, 2), xdpPass},
		{"udp4 MAC differs in byte 0", set(good4, 0, 3), xdpPass},
		{"udp4 source MAC is ours", set(set(good4, 0, 2, 0, 0, 0, 0, 9), 6, testMAC...), xdpPass},
		{"ipv4 options", newFrame(0x0800).ipv4(udp, 7, 0).l4(1234, 53, 8).done(), xdpDrop},
		{"ipv4 ihl 4", newFrame(0x0800).ipv4(udp, 4, 0).l4(1234, 53, 8).done(), xdpPass},
		{"ipv4 version 5", set(good4, 14, 0x55), xdpPass},
		{"ipv4 DF", u4().l4(1234, 53, 8).done(), xdpDrop},
		{"ipv4 DF flag", newFrame(0x0800).ipv4(udp, 5, 0x4000).l4(1234, 53, 8).done(), xdpDrop},
		{"ipv4 MF", newFrame(0x0800).ipv4(udp, 5, 0x2000).l4(1234, 53, 8).done(), xdpPass},
		{"ipv4 fragment offset", newFrame(0x0800).ipv4(udp, 5, 0x0010).l4(1234, 53, 8).done(), xdpPass},
		{"ipv4 total length beyond frame", set(good4, 14+2, 0, 29), xdpPass},
		{"ipv4 total length below ihl", set(good4, 14+2, 0, 19), xdpPass},
		{"ipv4 total length cuts udp", set(good4, 14+2, 0, 27), xdpPass},
		{"ipv4 padded frame", append(append([]byte(nil), good4...), make([]byte, 18)...), xdpDrop},
		{"udp length 7", set(good4, 14+20+4, 0, 7), xdpPass},
		{"udp length beyond ip", set(good4, 14+20+4, 0, 9), xdpPass},
		{"udp length short of ip", set(u4().l4(1234, 53, 16).done(), 14+20+4, 0, 8), xdpDrop},
		{"tcp data offset 4", set(goodTCP4, 14+20+12, 4<<4), xdpPass},
		{"tcp data offset beyond ip", set(goodTCP4, 14+20+12, 6<<4), xdpPass},
		{"tcp short", newFrame(0x0800).ipv4(tcp, 5, 0).l4(1234, 443, 19).done(), xdpPass},
		{"icmp4", newFrame(0x0800).ipv4(icmp, 5, 0).raw(8, 0, 0, 53, 0, 0, 0, 0).done(), xdpPass},
		{"arp", newFrame(0x0806).raw(make([]byte, 28)...).done(), xdpPass},
		{"arp broadcast", newFrameTo(bcastMAC, 0x0806).raw(make([]byte, 28)...).done(), xdpPass},
		{"vlan", newFrame(0x0800, 0x8100).ipv4(udp, 5, 0).l4(1, 53, 8).done(), xdpDrop},
		{"qinq 88a8", newFrame(0x0800, 0x88a8, 0x8100).ipv4(udp, 5, 0).l4(1, 53, 8).done(), xdpDrop},
		{"qinq 9100", newFrame(0x0800, 0x9100, 0x8100).ipv4(tcp, 5, 0).l4(1, 443, 20).done(), xdpDrop},
		{"three vlan tags", newFrame(0x0800, 0x8100, 0x8100, 0x8100).ipv4(udp, 5, 0).l4(1, 53, 8).done(), xdpPass},
		{"vlan truncated", newFrame(0x8100).raw(0, 1).done(), xdpPass},
		{"udp6 claimed", good6, xdpDrop},
		{"tcp6 claimed", goodTCP6, xdpDrop},
		{"udp6 unclaimed", u6().l4(1, 5353, 8).done(), xdpPass},
		{"udp6 other address", newFrame(0x86dd).to(otherDst6).ipv6(udp).l4(1, 53, 8).done(), xdpPass},
		{"udp6 other address claimed", newFrame(0x86dd).to(otherDst6).ipv6(udp).l4(1, 54, 8).done(), xdpDrop},
		{"udp6 port claimed on other address", u6().l4(1, 54, 8).done(), xdpPass},
		{"udp6 to 4in6 of claimed v4", newFrame(0x86dd).to(netip.AddrFrom16(testDst4.As16())).ipv6(udp).l4(1, 53, 8).done(), xdpPass},
		{"udp6 other MAC", newFrameTo(otherMAC, 0x86dd).ipv6(udp).l4(1, 53, 8).done(), xdpPass},
		{"udp6 multicast MAC", newFrameTo(net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, 0x86dd).ipv6(udp).l4(1, 53, 8).done(), xdpPass},
		{"udp6 vlan", newFrame(0x86dd, 0x8100).ipv6(udp).l4(1, 53, 8).done(), xdpDrop},
		{"udp6 hop dst", u6(hop, dst).l4(1, 53, 8).done(), xdpDrop},
		{"udp6 ah", u6(ah).l4(1, 53, 8).done(), xdpDrop},
		{"tcp6 ah", newFrame(0x86dd).ipv6(tcp, ah).l4(1, 443, 20).done(), xdpDrop},
		{"udp6 five ext", u6(hop, rt, dst, dst, dst).l4(1, 53, 8).done(), xdpDrop},
		{"udp6 eight ext with ah", u6(eight...).l4(1, 53, 8).done(), xdpDrop},
		{"tcp6 eight ext with ah", newFrame(0x86dd).ipv6(tcp, eight...).l4(1, 443, 20).done(), xdpDrop},
		{"udp6 nine ext", u6(append(eight, dst)...).l4(1, 53, 8).done(), xdpPass},
		{"udp6 nine ext ah last", u6(append(eight, ah)...).l4(1, 53, 8).done(), xdpPass},
		{"udp6 fragment", u6(frag).l4(1, 53, 8).done(), xdpPass},
		{"udp6 dst fragment", u6(dst, frag).l4(1, 53, 8).done(), xdpPass},
		{"udp6 ah length beyond payload", set(u6(ah).l4(1, 53, 8).done(), 14+40+1, 4), xdpPass},
		{"udp6 payload length beyond frame", set(good6, 14+4, 0, 9), xdpPass},
		{"udp6 payload length zero", set(good6, 14+4, 0, 0), xdpPass},
		{"udp6 payload length cuts udp", set(good6, 14+4, 0, 7), xdpPass},
		{"udp6 length beyond payload", set(good6, 14+40+4, 0, 9), xdpPass},
		{"ipv6 version 4", set(good6, 14, 0x40), xdpPass},
		{"ipv6 padded frame", append(append([]byte(nil), good6...), 0, 0, 0, 0), xdpDrop},
		{"icmp6", newFrame(0x86dd).ipv6(58).raw(128, 0, 0, 0, 0, 53, 0, 0).done(), xdpPass},
		{"ipv6 ext truncated", u6(hop).done()[:14+40+1], xdpPass},
		{"ipv4 truncated", u4().done()[:14+19], xdpPass},
		{"ipv4 options truncated", newFrame(0x0800).ipv4(udp, 8, 0).done(), xdpPass},
		{"udp truncated", u4().l4(1, 53, 3).done(), xdpPass},
		{"udp ports only", u4().l4(1, 53, 4).done(), xdpPass},
		{"ethernet only", newFrame(0x0800).done(), xdpPass},
		{"unknown ethertype", newFrame(0x88cc).raw(make([]byte, 40)...).done(), xdpPass},
	}
}

// notForHost reports whether the program counts frame as not for this host.
func notForHost(frame []byte) bool { return !bytes.Equal(frame[:6], testMAC) }

func TestParse(t *testing.T) {
	p := loadForTest(t)
	var want QueueCounters // BPF_PROG_TEST_RUN reports rx queue 0
	cases := parseCases()
	for _, tt := range cases {
		if ref := refVerdict(tt.frame); ref != tt.want {
			t.Errorf("%s: reference model says %d, want %d", tt.name, ref, tt.want)
		}
		if got := run(t, p, tt.frame); got != tt.want {
			t.Errorf("%s: program returned %d, want %d (frame % x)", tt.name, got, tt.want, tt.frame)
		}
		if tt.want == xdpDrop {
			want.Dropped++
		} else {
			want.Passed++
		}
		if notForHost(tt.frame) {
			want.NotForHost++
		}
	}
	if want.Dropped < 10 || want.NotForHost < 5 {
		t.Fatalf("cases: %+v, want at least 10 claimed and 5 not for host", want)
	}
	cs, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0] != want {
		t.Errorf("counters %+v, want [%+v]", cs, want)
	}

	// Redirect mode with no socket in xsks: claimed frames pass too and
	// count as passed.
	if err := p.SetDropClaimed(false); err != nil {
		t.Fatal(err)
	}
	for _, tt := range cases {
		if got := run(t, p, tt.frame); got != xdpPass {
			t.Errorf("%s, redirect mode without socket: program returned %d, want XDP_PASS", tt.name, got)
		}
		if redirect, err := p.Verdict(tt.frame); err != nil || redirect {
			t.Errorf("%s, redirect mode without socket: Verdict = %v, %v; want false", tt.name, redirect, err)
		}
		if notForHost(tt.frame) {
			want.NotForHost += 2
		}
	}
	cs, _ = p.Counters()
	want.Passed += 2 * uint64(len(cases))
	if len(cs) != 1 || cs[0] != want {
		t.Errorf("counters %+v, want [%+v]", cs, want)
	}

	// Verdict in drop-claimed mode reports the claimed frames.
	if err := p.SetDropClaimed(true); err != nil {
		t.Fatal(err)
	}
	for _, tt := range cases {
		redirect, err := p.Verdict(tt.frame)
		if err != nil || redirect != (tt.want == xdpDrop) {
			t.Errorf("%s: Verdict = %v, %v; want %v", tt.name, redirect, err, tt.want == xdpDrop)
		}
	}
}

// TestMACConfig checks that the program compares all six bytes of the
// configured MAC, whatever it is.
func TestMACConfig(t *testing.T) {
	p := loadForTest(t)
	for _, mac := range []net.HardwareAddr{
		{0x02, 0x42, 0xac, 0x11, 0x00, 0x02},
		{0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54},
		{0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
	} {
		p.mac = mac
		if err := p.writeConfig(); err != nil {
			t.Fatal(err)
		}
		frame := newFrameTo(mac, 0x0800).ipv4(17, 5, 0).l4(1, 53, 8).done()
		if got := run(t, p, frame); got != xdpDrop {
			t.Errorf("mac %s: frame to it: %d, want XDP_DROP", mac, got)
		}
		for i := range 6 {
			other := set(frame, i, frame[i]^0x10)
			if got := run(t, p, other); got != xdpPass {
				t.Errorf("mac %s: frame to %s: %d, want XDP_PASS", mac, net.HardwareAddr(other[:6]), got)
			}
		}
	}
}

// FuzzParse checks the program against the reference model on arbitrary
// frames (needs root to load the program).
func FuzzParse(f *testing.F) {
	for _, tt := range parseCases() {
		f.Add(tt.frame)
	}
	p := loadForTest(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 1500 {
			return // BPF_PROG_TEST_RUN rejects frames shorter than Ethernet
		}
		if got, want := run(t, p, frame), refVerdict(frame); got != want {
			t.Errorf("program returned %d, reference %d, frame % x", got, want, frame)
		}
	})
}

// BenchmarkProgram measures the program itself per frame through
// BPF_PROG_TEST_RUN's repeat loop (in-kernel, no interface): ns/op is the
// cost of one verdict.
func BenchmarkProgram(b *testing.B) {
	p := loadForTest(b)
	for _, tt := range []struct {
		name  string
		frame []byte
	}{
		{"udp4-claimed-drop", newFrame(0x0800).ipv4(17, 5, 0).l4(1234, 53, 26).done()},
		{"udp4-unclaimed-pass", newFrame(0x0800).ipv4(17, 5, 0).l4(1234, 55, 26).done()},
		{"udp4-other-mac-pass", newFrameTo(otherMAC, 0x0800).ipv4(17, 5, 0).l4(1234, 53, 26).done()},
		{"udp6-qinq-ext-drop", newFrame(0x86dd, 0x88a8, 0x8100).ipv6(17, 0, 60).l4(1, 53, 8).done()},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			_, per, err := p.objs.Xdpmux.Benchmark(tt.frame, b.N, b.ResetTimer)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(per.Nanoseconds()), "ns/frame")
			b.ReportMetric(1e3/float64(max(per.Nanoseconds(), 1)), "Mpps")
		})
	}
}
