package packet

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// refChecksum is RFC 1071 done the slow way, byte pair by byte pair, as
// a reference independent of Sum16's eight-byte steps.
func refChecksum(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var s uint32
	for i := 0; i < len(all); i += 2 {
		s += uint32(all[i])<<8 | uint32(all[i+1])
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// buildUDP returns an Ethernet frame (with the given VLAN TPIDs) carrying
// a UDP datagram from src to dst built by PutIPUDP.
func buildUDP(tpids []uint16, src, dst netip.AddrPort, payload []byte, ttl uint8) []byte {
	v4 := src.Addr().Is4()
	ipLen := 40
	if v4 {
		ipLen = 20
	}
	l2 := 14 + 4*len(tpids)
	f := make([]byte, l2+IPUDPHeaderLen(v4)+len(payload))
	copy(f[0:12], []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	off := 12
	for i, tp := range tpids {
		binary.BigEndian.PutUint16(f[off:], tp)
		binary.BigEndian.PutUint16(f[off+2:], uint16(100+i))
		off += 4
	}
	et := uint16(etherTypeIPv6)
	if v4 {
		et = etherTypeIPv4
	}
	binary.BigEndian.PutUint16(f[off:], et)
	copy(f[l2+IPUDPHeaderLen(v4):], payload)
	PutIPUDP(f[l2:], src, dst, ipLen, ttl)
	return f
}

// FuzzBuildParse checks Parse(Build(x)) == x: a datagram PutIPUDP builds
// parses back to its addresses, ports and payload, through the VLAN tags
// LinkHeaderLen and Parse share, and carries checksums that verify
// against a reference implementation.
func FuzzBuildParse(f *testing.F) {
	f.Add([]byte{198, 18, 0, 1}, []byte{198, 18, 0, 2}, uint16(4000), uint16(53), []byte("question"), uint8(0), uint8(64))
	f.Add([]byte{0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
		uint16(0), uint16(443), []byte{}, uint8(1), uint8(255))
	f.Add([]byte{198, 19, 255, 255}, []byte{198, 18, 7, 7}, uint16(65535), uint16(1), []byte{0xff, 0xff, 0, 0, 1}, uint8(2), uint8(1))
	f.Add([]byte{198, 18, 0, 1}, []byte{198, 18, 0, 2}, uint16(1), uint16(2), make([]byte, 1472), uint8(3), uint8(64))
	f.Fuzz(func(t *testing.T, sa, da []byte, sport, dport uint16, payload []byte, tags, ttl uint8) {
		var src, dst netip.Addr
		switch {
		case len(sa) == 4 && len(da) == 4:
			src, dst = netip.AddrFrom4([4]byte(sa)), netip.AddrFrom4([4]byte(da))
		case len(sa) == 16 && len(da) == 16:
			src, dst = netip.AddrFrom16([16]byte(sa)), netip.AddrFrom16([16]byte(da))
			if src.Is4In6() || dst.Is4In6() {
				return // a mapped address in an IPv6 header parses as IPv4-mapped: not a round trip
			}
		default:
			return
		}
		if len(payload) > 9000 {
			return
		}
		tpids := [][]uint16{nil, {0x8100}, {0x88a8, 0x8100}, {0x9100, 0x8100}}[tags%4]
		s, d := netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
		frame := buildUDP(tpids, s, d, payload, ttl)

		if off, r := LinkHeaderLen(frame); r != OK || off != 14+4*len(tpids) {
			t.Fatalf("LinkHeaderLen = %d, %v, want %d, OK", off, r, 14+4*len(tpids))
		}
		var tu Tuple
		if r := Parse(frame, &tu); r != OK {
			t.Fatalf("Parse(Build) = %v", r)
		}
		if err := checkInvariants(frame, &tu); err != nil {
			t.Fatal(err)
		}
		gs, gd := tu.Flow.Src, tu.Flow.Dst
		gotSrc, gotDst := netip.AddrFrom16(gs).Unmap(), netip.AddrFrom16(gd).Unmap()
		if gotSrc != src || gotDst != dst || tu.Flow.SrcPort != sport || tu.Flow.DstPort != dport {
			t.Fatalf("parsed %v:%d > %v:%d, want %v > %v", gotSrc, tu.Flow.SrcPort, gotDst, tu.Flow.DstPort, s, d)
		}
		if !tu.HasPorts || tu.Fragment || tu.IPProto != protoUDP {
			t.Fatalf("tuple %+v: want UDP with ports, not a fragment", tu)
		}
		if int(tu.PayloadLen) != len(payload) || string(frame[tu.PayloadOff:int(tu.PayloadOff)+int(tu.PayloadLen)]) != string(payload) {
			t.Fatalf("payload at %d len %d, want %d bytes %q", tu.PayloadOff, tu.PayloadLen, len(payload), payload)
		}

		ip := frame[tu.L3Off:tu.L4Off]
		udp := frame[tu.L4Off:]
		var pseudo []byte
		if src.Is4() {
			if c := refChecksum(ip); c != 0xffff {
				t.Fatalf("IPv4 header checksum does not verify: sum %#04x", c)
			}
			if ip[8] != ttl {
				t.Fatalf("TTL %d, want %d", ip[8], ttl)
			}
			pseudo = append(append([]byte{}, ip[12:20]...), 0, protoUDP, byte(len(udp)>>8), byte(len(udp)))
		} else {
			if ip[7] != ttl {
				t.Fatalf("hop limit %d, want %d", ip[7], ttl)
			}
			pseudo = append(append([]byte{}, ip[8:40]...), 0, 0, byte(len(udp)>>8), byte(len(udp)), 0, 0, 0, protoUDP)
		}
		if binary.BigEndian.Uint16(udp[6:]) == 0 {
			t.Fatal("UDP checksum 0: must be sent as 0xffff")
		}
		if c := refChecksum(pseudo, udp); c != 0xffff {
			t.Fatalf("UDP checksum does not verify: sum %#04x", c)
		}
	})
}

func TestSum16MatchesReference(t *testing.T) {
	b := make([]byte, 101)
	for i := range b {
		b[i] = byte(i*37 + 11)
	}
	for n := 0; n <= len(b); n++ {
		if got, want := Fold(Sum16(0, b[:n])), refChecksum(b[:n]); got != want && !(got == 0 && want == 0xffff) && !(got == 0xffff && want == 0) {
			t.Errorf("Sum16 of %d bytes: %#04x, want %#04x", n, got, want)
		}
	}
}

func TestLinkHeaderLen(t *testing.T) {
	eth := func(tpids ...uint16) []byte {
		f := make([]byte, 12, 40)
		for _, tp := range tpids {
			f = binary.BigEndian.AppendUint16(f, tp)
			f = append(f, 0, 1)
		}
		return binary.BigEndian.AppendUint16(f, etherTypeIPv4)
	}
	tests := []struct {
		name  string
		frame []byte
		want  int
		r     Reason
	}{
		{"untagged", eth(), 14, OK},
		{"802.1Q", eth(0x8100), 18, OK},
		{"802.1ad + 802.1Q", eth(0x88a8, 0x8100), 22, OK},
		{"0x9100 QinQ", eth(0x9100, 0x8100), 22, OK},
		{"three tags", eth(0x88a8, 0x8100, 0x8100), 0, TooManyVLANTags},
		{"short", make([]byte, 13), 0, Truncated},
		{"tag cut", eth(0x8100)[:16], 0, Truncated},
	}
	for _, tt := range tests {
		if got, r := LinkHeaderLen(tt.frame); got != tt.want || r != tt.r {
			t.Errorf("%s: LinkHeaderLen = %d, %v, want %d, %v", tt.name, got, r, tt.want, tt.r)
		}
	}
}

func TestBuildAllocs(t *testing.T) {
	s, d := netip.MustParseAddrPort("198.18.0.1:53"), netip.MustParseAddrPort("198.18.0.2:4000")
	b := make([]byte, 28+64)
	if a := testing.AllocsPerRun(100, func() { PutIPUDP(b, s, d, 20, 64) }); a != 0 {
		t.Errorf("PutIPUDP: %v allocs, want 0", a)
	}
}
