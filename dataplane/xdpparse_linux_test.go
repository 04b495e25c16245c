//go:build linux

package dataplane_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// TestXDPParseParity runs the same frames through packet.Parse and the XDP
// program (drop-claimed mode, attached to a lab's receive interface, judged
// with Program.Verdict in the lab's namespace, where no kernel socket is
// bound) and checks that the program claims exactly the frames Parse
// accepts as non-fragmented UDP or TCP to a claimed (protocol, address,
// port) and sent to the interface's MAC. The rxq side cannot import
// dataplane, so the cross-check lives here.
func TestXDPParseParity(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 1})
	var prog *xdpprog.Program
	if err := lab.InRecv(func() (err error) {
		prog, err = xdpprog.Attach(lab.RecvIndex, xdpprog.Options{DropClaimed: true})
		return err
	}); err != nil {
		t.Fatalf("attach: %v", err)
	}
	t.Cleanup(func() { prog.Close() })

	dst6 := netip.MustParseAddr("2001:2::2")
	other6 := netip.MustParseAddr("2001:2::3")
	type claim struct {
		proto pcb.Proto
		addr  netip.Addr
		port  uint16
	}
	claims := map[claim]bool{
		{pcb.UDP, lab.RecvAddr, 53}:  true,
		{pcb.TCP, lab.RecvAddr, 443}: true,
		{pcb.UDP, dst6, 53}:          true,
		{pcb.TCP, dst6, 443}:         true,
		{pcb.UDP, other6, 54}:        true,
	}
	for c := range claims {
		if err := prog.Claim(uint8(c.proto), c.addr, c.port); err != nil {
			t.Fatal(err)
		}
	}
	want := func(frame []byte) bool {
		var tu packet.Tuple
		if len(frame) < 6 || !bytes.Equal(frame[:6], lab.RecvMAC) ||
			packet.Parse(frame, &tu) != packet.OK || !tu.HasPorts || tu.Fragment {
			return false
		}
		dst := tu.Flow.Dst.Netip(tu.Flow.Family)
		return claims[claim{tu.Flow.Proto, dst, tu.Flow.DstPort}]
	}

	frames := parityFrames(lab.SendAddr, lab.RecvAddr, dst6, other6, lab.RecvMAC)
	// Anchors, so that a Parse change cannot make both sides refuse all.
	peer := net.HardwareAddr{2, 0, 0, 0, 0, 0x77}
	src6 := netip.MustParseAddr("2001:2::1")
	for _, a := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"udp4", packettest.UDP4(netip.AddrPortFrom(lab.SendAddr, 1), netip.AddrPortFrom(lab.RecvAddr, 53), nil, packettest.MACs(peer, lab.RecvMAC)), true},
		{"udp4 broadcast", packettest.UDP4(netip.AddrPortFrom(lab.SendAddr, 1), netip.AddrPortFrom(lab.RecvAddr, 53), nil,
			packettest.MACs(peer, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})), false},
		{"udp6 8 ext with ah", ext6(lab.RecvMAC, peer, src6, dst6, 53, 8, true, -1, layers.IPProtocolUDP), true},
		{"tcp6 8 ext with ah", ext6(lab.RecvMAC, peer, src6, dst6, 443, 8, true, -1, layers.IPProtocolTCP), true},
		{"udp6 9 ext with ah", ext6(lab.RecvMAC, peer, src6, dst6, 53, 9, true, -1, layers.IPProtocolUDP), false},
		{"udp6 fragment", ext6(lab.RecvMAC, peer, src6, dst6, 53, 3, true, 1, layers.IPProtocolUDP), false},
	} {
		if got := want(a.frame); got != a.want {
			t.Errorf("anchor %s: Parse-based expectation %v, want %v", a.name, got, a.want)
		}
	}
	// Random mutations of the header bytes, and truncations.
	rng := rand.New(rand.NewPCG(1, 2))
	seeds := len(frames)
	for range 4000 {
		f := append([]byte(nil), frames[rng.IntN(seeds)]...)
		switch rng.IntN(3) {
		case 0:
			f = f[:14+rng.IntN(len(f)-13)]
		default:
			for range 1 + rng.IntN(3) {
				i := 12 + rng.IntN(min(len(f), 140)-12)
				f[i] = byte(rng.Uint32())
			}
		}
		frames = append(frames, f)
	}

	claimed := 0
	err := lab.InRecv(func() error {
		for i, f := range frames {
			if len(f) < 14 {
				continue // BPF_PROG_TEST_RUN refuses it; Parse says Truncated
			}
			got, err := prog.Verdict(f)
			if err != nil {
				return err
			}
			if w := want(f); got != w {
				var tu packet.Tuple
				r := packet.Parse(f, &tu)
				t.Errorf("frame %d: program claims %v, Parse says %v (%+v) → want %v; frame % x", i, got, r, tu, w, f)
			}
			if got {
				claimed++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if claimed < seeds/4 {
		t.Errorf("only %d of %d frames claimed: the set is too weak", claimed, len(frames))
	}
	t.Logf("%d frames, %d claimed", len(frames), claimed)
}

// parityFrames builds well-formed and malformed frames: IPv4 and IPv6, UDP
// and TCP, VLAN tags, IPv6 extension chains (AH included, up to nine),
// fragments, wrong lengths, other addresses and MACs.
func parityFrames(src4, dst4, dst6, other6 netip.Addr, mac net.HardwareAddr) [][]byte {
	src6 := netip.MustParseAddr("2001:2::1")
	peer := net.HardwareAddr{2, 0, 0, 0, 0, 0x77}
	macs := packettest.MACs(peer, mac)
	ap := netip.AddrPortFrom
	payload := []byte("parity")
	var out [][]byte
	add := func(f []byte) { out = append(out, f) }
	for _, port := range []uint16{53, 54, 443} {
		for _, opts := range [][]packettest.Option{
			{macs},
			{macs, packettest.VLAN(10)},
			{macs, packettest.QinQ(20, 30)},
			{macs, packettest.Tag(packettest.TPID9100, 5), packettest.VLAN(6)},
			{macs, packettest.VLAN(1), packettest.VLAN(2), packettest.VLAN(3)},
			{packettest.MACs(peer, net.HardwareAddr{2, 0, 0, 0, 0, 0x78})},
			{packettest.MACs(peer, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})},
		} {
			add(packettest.UDP4(ap(src4, 1000), ap(dst4, port), payload, opts...))
			add(packettest.TCP4(ap(src4, 1000), ap(dst4, port), payload, opts...))
			add(packettest.TCP4(ap(src4, 1000), ap(dst4, port), nil, append(opts, packettest.SYN())...))
			add(packettest.UDP6(ap(src6, 1000), ap(dst6, port), payload, opts...))
			add(packettest.TCP6(ap(src6, 1000), ap(dst6, port), payload, opts...))
			add(packettest.UDP6(ap(src6, 1000), ap(other6, port), payload, opts...))
			add(packettest.UDP4(ap(src4, 1000), ap(dst4.Next(), port), payload, opts...))
		}
		// IPv6 extension chains.
		for n := 0; n <= 9; n++ {
			for _, ah := range []bool{false, true} {
				add(ext6(mac, peer, src6, dst6, port, n, ah, -1, layers.IPProtocolUDP))
				add(ext6(mac, peer, src6, dst6, port, n, ah, -1, layers.IPProtocolTCP))
				if n > 0 {
					add(ext6(mac, peer, src6, dst6, port, n, ah, n-1, layers.IPProtocolUDP))
				}
			}
		}
	}
	// IPv4 fragments and options.
	for _, fo := range []uint16{0x2000, 0x0001, 0x4000} {
		f := packettest.UDP4(ap(src4, 1000), ap(dst4, 53), payload, macs)
		binary.BigEndian.PutUint16(f[14+6:], fo)
		add(f)
	}
	opt4 := packettest.IPv4(src4, dst4, layers.IPProtocolUDP)
	opt4.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 1}}
	u := packettest.UDPLayer(1000, 53)
	_ = u.SetNetworkLayerForChecksum(opt4)
	add(packettest.Serialize(append(packettest.Link(layers.EthernetTypeIPv4, macs), opt4, u, gopacket.Payload(payload))...))
	// Ethernet padding after a short packet.
	add(append(packettest.UDP4(ap(src4, 1000), ap(dst4, 53), nil, macs), make([]byte, 8)...))
	return out
}

// ext6 builds Ethernet/IPv6/n extension headers/UDP or TCP to dst:port. The
// headers cycle through hop-by-hop, routing, destination options and, if ah,
// AH (24 bytes); header number frag (if ≥ 0) is a fragment header.
func ext6(mac, peer net.HardwareAddr, src, dst netip.Addr, port uint16, n int, ah bool, frag int, l4 layers.IPProtocol) []byte {
	kinds := []layers.IPProtocol{layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination}
	if ah {
		kinds = append(kinds, layers.IPProtocolAH)
	}
	types := make([]layers.IPProtocol, n)
	for i := range types {
		types[i] = kinds[i%len(kinds)]
		if i == frag {
			types[i] = layers.IPProtocolIPv6Fragment
		}
	}
	var hdrs []byte
	for i, ty := range types {
		next := l4
		if i+1 < n {
			next = types[i+1]
		}
		var h []byte
		switch ty {
		case layers.IPProtocolAH:
			h = make([]byte, 24)
			h[1] = 4 // (4+2)*4 = 24 bytes
		case layers.IPProtocolIPv6Fragment:
			h = make([]byte, 8)
		default:
			h = make([]byte, 16)
			h[1] = 1 // (1+1)*8 = 16 bytes
		}
		h[0] = byte(next)
		hdrs = append(hdrs, h...)
	}
	first := l4
	if n > 0 {
		first = types[0]
	}
	ip := packettest.IPv6(src, dst, first)
	var tr gopacket.SerializableLayer
	if l4 == layers.IPProtocolUDP {
		u := packettest.UDPLayer(1000, port)
		_ = u.SetNetworkLayerForChecksum(ip)
		tr = u
	} else {
		tc := packettest.TCPLayer(1000, port)
		_ = tc.SetNetworkLayerForChecksum(ip)
		tr = tc
	}
	ls := append(packettest.Link(layers.EthernetTypeIPv6, packettest.MACs(peer, mac)), ip, gopacket.Payload(hdrs), tr, gopacket.Payload("x"))
	f := packettest.Serialize(ls...)
	if len(f) < 6 {
		panic(fmt.Sprintf("ext6: frame of %d bytes", len(f)))
	}
	return f
}
