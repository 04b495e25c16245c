package packet

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/pcb"
)

// want is what a test expects of Parse; fields are checked only on OK.
type want struct {
	r          Reason
	family     pcb.Family
	proto      uint8
	ports      bool
	frag       bool
	sport      uint16
	dport      uint16
	l3, l4     uint16
	payloadLen uint16
}

func udp4(l3 uint16, plen uint16) want {
	return want{family: pcb.IPv4, proto: 17, ports: true, sport: src4.Port(), dport: dst4.Port(), l3: l3, l4: l3 + 20, payloadLen: plen}
}

func udp6(l3, l4, plen uint16) want {
	return want{family: pcb.IPv6, proto: 17, ports: true, sport: src6.Port(), dport: dst6.Port(), l3: l3, l4: l4, payloadLen: plen}
}

func bad(r Reason) want { return want{r: r} }

// ipv4Frame builds Ethernet/IPv4/l4... with ip changed by f before serializing.
func ipv4Frame(proto layers.IPProtocol, f func(*layers.IPv4), l4 ...gopacket.SerializableLayer) []byte {
	ip := packettest.IPv4(src4.Addr(), dst4.Addr(), proto)
	if f != nil {
		f(ip)
	}
	for _, l := range l4 {
		switch l := l.(type) {
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(ip)
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(ip)
		}
	}
	ls := append(packettest.Link(layers.EthernetTypeIPv4), ip)
	return packettest.Serialize(append(ls, l4...)...)
}

// hbhRouterAlert is a gopacket-built hop-by-hop header with a router
// alert option, padded to 8 bytes, followed by UDP.
func hbhRouterAlert() *layers.IPv6HopByHop {
	h := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{
		{OptionType: 5, OptionLength: 2, OptionData: []byte{0, 0}},
		{OptionType: 1, OptionLength: 0}, // PadN
	}}
	h.NextHeader = layers.IPProtocolUDP
	return h
}

func parseCases() []struct {
	name  string
	frame []byte
	want  want
} {
	u4 := packettest.UDP4(src4, dst4, []byte("query"))              // 14+20+8+5 = 47, padded to 60
	u4big := packettest.UDP4(src4, dst4, make([]byte, 100), nil...) // no padding
	t4 := packettest.TCP4(src4, dst4, []byte("data"))
	u6 := packettest.UDP6(src6, dst6, []byte("query"))
	t6 := packettest.TCP6(src6, dst6, []byte("GET /"))
	tcpOpts := &layers.TCP{SrcPort: 1234, DstPort: 80, SYN: true, Window: 1024, Options: []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
	}}
	ipOpts := func(ip *layers.IPv4) {
		ip.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}} // router alert
	}
	icmp4 := ipv4Frame(layers.IPProtocolICMPv4, nil,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1},
		gopacket.Payload("ping"))
	icmp6 := func() []byte {
		ip := packettest.IPv6(src6.Addr(), dst6.Addr(), layers.IPProtocolICMPv6)
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		ic.SetNetworkLayerForChecksum(ip)
		return packettest.Serialize(append(packettest.Link(layers.EthernetTypeIPv6), ip, ic,
			&layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})...)
	}()
	arp := packettest.Serialize(append(packettest.Link(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: packettest.DefaultSrcMAC, SourceProtAddress: net.IP{198, 18, 0, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{198, 18, 0, 2}})...)
	nine := func(last layers.IPProtocol) []gopacket.SerializableLayer {
		var exts []gopacket.SerializableLayer
		for i := 0; i < 8; i++ {
			exts = append(exts, extHdr(layers.IPProtocolIPv6Destination, 1))
		}
		return append(exts, extHdr(last, 1))
	}
	eightThenUDP := udp6Ext(layers.IPProtocolIPv6HopByHop, nine(layers.IPProtocolUDP)[1:]...)
	// 14 + 40 + 8*8 = 118
	nineThenUDP := udp6Ext(layers.IPProtocolIPv6HopByHop, nine(layers.IPProtocolUDP)...)

	return []struct {
		name  string
		frame []byte
		want  want
	}{
		// Accepted frames.
		{"udp4 padded", u4, udp4(14, 5)},
		{"udp4 100 bytes", u4big, udp4(14, 100)},
		{"udp4 ip options", ipv4Frame(layers.IPProtocolUDP, ipOpts, packettest.UDPLayer(src4.Port(), dst4.Port()), gopacket.Payload("x")),
			want{family: pcb.IPv4, proto: 17, ports: true, sport: src4.Port(), dport: dst4.Port(), l3: 14, l4: 38, payloadLen: 1}},
		{"udp4 empty payload", packettest.UDP4(src4, dst4, nil), udp4(14, 0)},
		{"tcp4", t4, want{family: pcb.IPv4, proto: 6, ports: true, sport: src4.Port(), dport: dst4.Port(), l3: 14, l4: 34, payloadLen: 4}},
		{"tcp4 options", ipv4Frame(layers.IPProtocolTCP, nil, tcpOpts),
			want{family: pcb.IPv4, proto: 6, ports: true, sport: 1234, dport: 80, l3: 14, l4: 34, payloadLen: 0}},
		{"udp4 vlan", packettest.UDP4(src4, dst4, []byte("q"), packettest.VLAN(42)), udp4(18, 1)},
		{"udp4 qinq", packettest.UDP4(src4, dst4, []byte("q"), packettest.QinQ(1, 2)), udp4(22, 1)},
		{"udp4 9100+8100", packettest.UDP4(src4, dst4, []byte("q"), packettest.Tag(packettest.TPID9100, 3), packettest.VLAN(4)), udp4(22, 1)},
		{"udp4 8100+8100", packettest.UDP4(src4, dst4, []byte("q"), packettest.VLAN(3), packettest.VLAN(4)), udp4(22, 1)},
		{"udp4 df not fragment", ipv4Frame(layers.IPProtocolUDP, func(ip *layers.IPv4) { ip.Flags = layers.IPv4DontFragment },
			packettest.UDPLayer(src4.Port(), dst4.Port())), udp4(14, 0)},
		{"udp4 first fragment", ipv4Frame(layers.IPProtocolUDP, func(ip *layers.IPv4) { ip.Flags = layers.IPv4MoreFragments },
			packettest.UDPLayer(src4.Port(), dst4.Port()), gopacket.Payload(make([]byte, 16))),
			want{family: pcb.IPv4, proto: 17, frag: true, l3: 14, l4: 34, payloadLen: 24}},
		{"udp4 later fragment", ipv4Frame(layers.IPProtocolUDP, func(ip *layers.IPv4) { ip.FragOffset = 3 },
			gopacket.Payload(make([]byte, 16))),
			want{family: pcb.IPv4, proto: 17, frag: true, l3: 14, l4: 34, payloadLen: 16}},
		{"icmp4", icmp4, want{family: pcb.IPv4, proto: 1, l3: 14, l4: 34, payloadLen: 12}},
		{"udp6", u6, udp6(14, 54, 5)},
		{"tcp6 vlan", packettest.TCP6(src6, dst6, nil, packettest.VLAN(5)),
			want{family: pcb.IPv6, proto: 6, ports: true, sport: src6.Port(), dport: dst6.Port(), l3: 18, l4: 58}},
		{"tcp6", t6, want{family: pcb.IPv6, proto: 6, ports: true, sport: src6.Port(), dport: dst6.Port(), l3: 14, l4: 54, payloadLen: 5}},
		{"udp6 hop-by-hop", udp6Ext(layers.IPProtocolIPv6HopByHop, hbhRouterAlert()), udp6(14, 62, 9)},
		{"udp6 routing", udp6Ext(layers.IPProtocolIPv6Routing, routingHdr(layers.IPProtocolUDP)), udp6(14, 78, 9)},
		{"udp6 destination options", udp6Ext(layers.IPProtocolIPv6Destination, extHdr(layers.IPProtocolUDP, 2)), udp6(14, 70, 9)},
		{"udp6 ah", udp6Ext(layers.IPProtocolAH, ahHdr(layers.IPProtocolUDP)), udp6(14, 78, 9)},
		{"udp6 hbh routing dst ah", udp6Ext(layers.IPProtocolIPv6HopByHop, extHdr(layers.IPProtocolIPv6Routing, 1),
			routingHdr(layers.IPProtocolIPv6Destination), extHdr(layers.IPProtocolAH, 1), ahHdr(layers.IPProtocolUDP)),
			udp6(14, 14+40+8+24+8+24, 9)},
		{"udp6 eight ext headers", eightThenUDP, udp6(14, 118, 9)},
		{"udp6 fragment", udp6Ext(layers.IPProtocolIPv6Fragment, fragHdr(layers.IPProtocolUDP, 0, true)),
			want{family: pcb.IPv6, proto: 17, frag: true, l3: 14, l4: 62, payloadLen: 17}},
		{"udp6 atomic fragment after dst opts", udp6Ext(layers.IPProtocolIPv6Destination, extHdr(layers.IPProtocolIPv6Fragment, 1),
			fragHdr(layers.IPProtocolUDP, 0, false)),
			want{family: pcb.IPv6, proto: 17, frag: true, l3: 14, l4: 70, payloadLen: 17}},
		{"icmp6", icmp6, want{family: pcb.IPv6, proto: 58, l3: 14, l4: 54, payloadLen: 8}},
		{"ipv6 no next header", mutate(u6, func(b []byte) { b[14+6] = 59 }),
			want{family: pcb.IPv6, proto: 59, l3: 14, l4: 54, payloadLen: 13}},
		{"ipv4 esp", mutate(u4, func(b []byte) { b[14+9] = 50 }),
			want{family: pcb.IPv4, proto: 50, l3: 14, l4: 34, payloadLen: 13}},

		// Truncated.
		{"empty", nil, bad(Truncated)},
		{"13 bytes", u4[:13], bad(Truncated)},
		{"vlan tag cut", packettest.UDP4(src4, dst4, nil, packettest.VLAN(1))[:17], bad(Truncated)},
		{"ipv4 header cut", u4[:14+19], bad(Truncated)},
		{"ipv6 header cut", u6[:14+39], bad(Truncated)},
		{"udp header cut by ip length", mutate(u4, func(b []byte) { put16(b, 14+2, 20+7) }), bad(Truncated)},
		{"tcp header cut by ip length", mutate(t4, func(b []byte) { put16(b, 14+2, 20+19) }), bad(Truncated)},
		{"udp6 header cut by payload length", mutate(u6, func(b []byte) { put16(b, 14+4, 7) }), bad(Truncated)},
		{"ext header cut", mutate(udp6Ext(layers.IPProtocolIPv6Destination, extHdr(layers.IPProtocolUDP, 2)),
			func(b []byte) { put16(b, 14+4, 15) }), bad(Truncated)},
		{"ext header length beyond payload", mutate(udp6Ext(layers.IPProtocolIPv6Destination, extHdr(layers.IPProtocolUDP, 2)),
			func(b []byte) { b[54+1] = 200 }), bad(Truncated)},
		{"fragment header cut", mutate(udp6Ext(layers.IPProtocolIPv6Fragment, fragHdr(layers.IPProtocolUDP, 0, true)),
			func(b []byte) { put16(b, 14+4, 7) }), bad(Truncated)},

		// Unknown ethertype.
		{"arp", arp, bad(UnknownEtherType)},
		{"802.3 length", mutate(u4, func(b []byte) { put16(b, 12, 46) }), bad(UnknownEtherType)},
		{"vlan then arp", mutate(packettest.UDP4(src4, dst4, nil, packettest.VLAN(1)), func(b []byte) { put16(b, 16, 0x0806) }), bad(UnknownEtherType)},

		// Too many tags.
		{"three tags", packettest.UDP4(src4, dst4, nil, packettest.QinQ(1, 2), packettest.VLAN(3)), bad(TooManyVLANTags)},

		// Bad version.
		{"ipv4 ethertype, version 6", mutate(u4, func(b []byte) { b[14] = 0x65 }), bad(BadVersion)},
		{"ipv6 ethertype, version 4", mutate(u6, func(b []byte) { b[14] = 0x45 }), bad(BadVersion)},
		{"ipv6 packet in ipv4 ethertype", mutate(u6, func(b []byte) { put16(b, 12, 0x0800) }), bad(BadVersion)},

		// Bad IHL.
		{"ihl 4", mutate(u4, func(b []byte) { b[14] = 0x44 }), bad(BadIHL)},
		{"ihl 0", mutate(u4, func(b []byte) { b[14] = 0x40 }), bad(BadIHL)},
		{"ihl beyond frame", mutate(u4, func(b []byte) { b[14] = 0x4f })[:14+40], bad(BadIHL)},

		// Bad length.
		{"ipv4 total length beyond frame", mutate(u4, func(b []byte) { put16(b, 14+2, 47) }), bad(BadLength)},
		{"ipv4 total length below ihl", mutate(u4, func(b []byte) { put16(b, 14+2, 19) }), bad(BadLength)},
		{"ipv4 frame cut", u4big[:len(u4big)-1], bad(BadLength)},
		{"ipv6 payload length beyond frame", mutate(u6, func(b []byte) { put16(b, 14+4, 100) }), bad(BadLength)},
		{"ipv6 jumbogram", mutate(u6, func(b []byte) { put16(b, 14+4, 0) }), bad(BadLength)},
		{"udp length 7", mutate(u4, func(b []byte) { put16(b, 34+4, 7) }), bad(BadLength)},
		{"udp length beyond ip", mutate(u4, func(b []byte) { put16(b, 34+4, 14) }), bad(BadLength)},
		{"udp6 length beyond ip", mutate(u6, func(b []byte) { put16(b, 54+4, 14) }), bad(BadLength)},

		// Bad TCP offset.
		{"tcp offset 4", mutate(t4, func(b []byte) { b[34+12] = 4 << 4 }), bad(BadTCPOffset)},
		{"tcp offset beyond packet", mutate(t4, func(b []byte) { b[34+12] = 15 << 4 }), bad(BadTCPOffset)},
		{"tcp6 offset beyond packet", mutate(t6, func(b []byte) { b[54+12] = 7 << 4 }), bad(BadTCPOffset)},

		// Extension header chain.
		{"nine ext headers", nineThenUDP, bad(ExtChainTooLong)},
		{"eight ext headers then fragment", udp6Ext(layers.IPProtocolIPv6HopByHop,
			append(nine(layers.IPProtocolIPv6Fragment)[1:], fragHdr(layers.IPProtocolUDP, 0, true))...), bad(ExtChainTooLong)},
	}
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases() {
		t.Run(tc.name, func(t *testing.T) {
			var tu Tuple
			tu.L3Off = 999 // Parse must reset
			got := Parse(tc.frame, &tu)
			if got != tc.want.r {
				t.Fatalf("Parse = %v, want %v (tuple %+v)", got, tc.want.r, tu)
			}
			if got != OK {
				if tu != (Tuple{}) {
					t.Fatalf("tuple not zero on %v: %+v", got, tu)
				}
				return
			}
			w := tc.want
			gotW := want{family: tu.Flow.Family, proto: tu.IPProto, ports: tu.HasPorts, frag: tu.Fragment,
				sport: tu.Flow.SrcPort, dport: tu.Flow.DstPort, l3: tu.L3Off, l4: tu.L4Off, payloadLen: tu.PayloadLen}
			if gotW != w {
				t.Errorf("got  %+v\nwant %+v", gotW, w)
			}
			var src, dst netip.Addr
			if w.family == pcb.IPv4 {
				src, dst = src4.Addr(), dst4.Addr()
			} else {
				src, dst = src6.Addr(), dst6.Addr()
			}
			if got := tu.Flow.Src.Netip(w.family); got != src {
				t.Errorf("src %v, want %v", got, src)
			}
			if got := tu.Flow.Dst.Netip(w.family); got != dst {
				t.Errorf("dst %v, want %v", got, dst)
			}
			if err := checkInvariants(tc.frame, &tu); err != nil {
				t.Error(err)
			}
			if err := crossCheck(tc.frame, &tu); err != nil {
				t.Errorf("gopacket cross-check: %v", err)
			}
		})
	}
}

// TestParseTruncations cuts valid frames at every length: Parse must never
// panic and must accept only lengths that keep the IP packet whole.
func TestParseTruncations(t *testing.T) {
	for _, f := range seedFrames(t) {
		var full Tuple
		if r := Parse(f, &full); r != OK {
			t.Fatalf("seed frame: %v", r)
		}
		for n := 0; n < len(f); n++ {
			var tu Tuple
			r := Parse(f[:n], &tu)
			if r == OK {
				if err := checkInvariants(f[:n], &tu); err != nil {
					t.Fatalf("cut at %d: %v", n, err)
				}
				if tu != full {
					t.Fatalf("cut at %d (padding): got %+v, want %+v", n, tu, full)
				}
			}
		}
	}
}

func TestReasonString(t *testing.T) {
	want := map[Reason]string{
		OK: "ok", Truncated: "truncated", UnknownEtherType: "unknown_ethertype",
		TooManyVLANTags: "too_many_vlan_tags", BadVersion: "bad_version", BadIHL: "bad_ihl",
		BadLength: "bad_length", BadTCPOffset: "bad_tcp_offset", ExtChainTooLong: "ext_chain_too_long",
		NumReasons: "reason(9)",
	}
	for r, s := range want {
		if got := r.String(); got != s {
			t.Errorf("Reason(%d).String() = %q, want %q", r, got, s)
		}
	}
	rs := Reasons()
	if len(rs) != int(NumReasons)-1 {
		t.Fatalf("Reasons() = %v, want %d reasons", rs, NumReasons-1)
	}
	for i, r := range rs {
		if r != Reason(i+1) {
			t.Errorf("Reasons()[%d] = %v, want %v", i, r, Reason(i+1))
		}
	}
}

// TestEveryReasonCovered makes sure the table exercises every reason.
func TestEveryReasonCovered(t *testing.T) {
	seen := make(map[Reason]bool)
	for _, tc := range parseCases() {
		seen[tc.want.r] = true
	}
	for r := OK; r < NumReasons; r++ {
		if !seen[r] {
			t.Errorf("no test case for %v", r)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	var tu Tuple
	for _, f := range append(seedFrames(t), nil, []byte{1, 2, 3}) {
		if n := testing.AllocsPerRun(100, func() { Parse(f, &tu) }); n != 0 {
			t.Errorf("Parse allocs = %v, want 0", n)
		}
	}
}
