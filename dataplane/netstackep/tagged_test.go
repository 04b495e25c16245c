package netstackep

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
)

// TestTaggedSYNReachesStack is issue 13's done-criterion: a TCP SYN in a
// frame with a 0x9100 tag (and with the other tag stacks packet.Parse
// accepts: 0x9100 over 0x8100, 802.1ad QinQ) reaches a gVisor listener on
// a Link, and its SYN-ACK leaves on the TX ring of the queue the SYN came
// in on, behind the SYN's own link header with the MACs swapped: the
// peer's MAC as destination, every tag as it came.
func TestTaggedSYNReachesStack(t *testing.T) {
	server6 := netip.MustParseAddr("2001:2::1")
	client6 := netip.MustParseAddr("2001:2::2")
	tests := []struct {
		name string
		v6   bool
		tags []packettest.Option
		l2   int // the SYN's link header
	}{
		{"untagged", false, nil, 14},
		{"0x9100", false, []packettest.Option{packettest.Tag(packettest.TPID9100, 100)}, 18},
		{"0x9100 over 0x8100", false, []packettest.Option{packettest.Tag(packettest.TPID9100, 5), packettest.VLAN(6)}, 22},
		{"802.1ad QinQ", false, []packettest.Option{packettest.QinQ(5, 7)}, 22},
		{"v6 0x9100", true, []packettest.Option{packettest.Tag(packettest.TPID9100, 4094)}, 18},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli, proto := serverIP, clientIP, header.IPv4ProtocolNumber
			if tc.v6 {
				srv, cli, proto = server6, client6, header.IPv6ProtocolNumber
			}
			local := netip.AddrPortFrom(srv, 80)
			peer := netip.AddrPortFrom(cli, uint16(40000+i))
			srcs, d, ep := rxqLab(t, 2, local)
			link, err := New(ep, Options{}) // sends through ep.SendIP
			if err != nil {
				t.Fatal(err)
			}
			ss, err := NewStack(link, netip.PrefixFrom(srv, srv.BitLen()))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { link.Stop(); ss.Destroy() }()
			ln, err := gonet.ListenTCP(ss, tcpip.FullAddress{NIC: NICID, Addr: tcpip.AddrFromSlice(srv.AsSlice()), Port: 80}, proto)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()

			opts := append([]packettest.Option{packettest.MACs(clientMAC, serverMAC), packettest.SYN()}, tc.tags...)
			var syn []byte
			if tc.v6 {
				syn = packettest.TCP6(peer, local, nil, opts...)
			} else {
				syn = packettest.TCP4(peer, local, nil, opts...)
			}
			const in = 1 // the queue the SYN arrives on
			if !srcs[in].Inject(syn) {
				t.Fatal("inject: no free frame")
			}
			var got []byte
			deadline := time.Now().Add(5 * time.Second)
			for got == nil && time.Now().Before(deadline) {
				srcs[in].TakeSent(func(b []byte) {
					if got == nil {
						got = append([]byte(nil), b...)
					}
				})
				time.Sleep(time.Millisecond)
			}
			if got == nil {
				t.Fatalf("no SYN-ACK on queue %d; link stats %+v", in, link.Stats())
			}
			if n := srcs[1-in].TakeSent(nil); n != 0 {
				t.Errorf("queue %d sent %d frames, want 0", 1-in, n)
			}

			// The link header: the SYN's, MACs swapped, tags as they came.
			want := append([]byte(nil), syn[:tc.l2]...)
			copy(want[0:6], syn[6:12])
			copy(want[6:12], syn[0:6])
			if len(got) < tc.l2 || !bytes.Equal(got[:tc.l2], want) {
				t.Fatalf("link header\n% x\nwant\n% x (to %v from %v, the SYN's tags)", got[:min(len(got), tc.l2)], want, clientMAC, serverMAC)
			}
			// The IP packet behind it: a SYN-ACK from the listener.
			first := layers.LayerTypeIPv4
			if tc.v6 {
				first = layers.LayerTypeIPv6
			}
			p := gopacket.NewPacket(got[tc.l2:], first, gopacket.Default)
			tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if !ok {
				t.Fatalf("no TCP in the answer: %v", p)
			}
			if !tl.SYN || !tl.ACK || tl.RST || tl.Ack != 2 ||
				uint16(tl.SrcPort) != local.Port() || uint16(tl.DstPort) != peer.Port() {
				t.Errorf("answer %v -> %v SYN %v ACK %v RST %v ack %d; want a SYN-ACK %v -> %v ack 2",
					tl.SrcPort, tl.DstPort, tl.SYN, tl.ACK, tl.RST, tl.Ack, local.Port(), peer.Port())
			}
			if nl := p.NetworkLayer(); nl == nil || nl.NetworkFlow().Src().String() != srv.String() ||
				nl.NetworkFlow().Dst().String() != cli.String() {
				t.Errorf("answer's addresses %v, want %v -> %v", nl, srv, cli)
			}
			st := link.Stats()
			if st.RXPackets != 1 || st.RXDropped != 0 || st.TXPackets < 1 || st.TXNoPeer != 0 || st.TXErrors != 0 {
				t.Errorf("link stats %+v", st)
			}

			// A packet to an address never heard from is dropped and
			// counted: the Link sends through the dataplane's peer cache.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			stranger := netip.AddrPortFrom(cli.Next(), 9)
			c, err := gonet.DialContextTCP(ctx, ss, tcpip.FullAddress{NIC: NICID, Addr: tcpip.AddrFromSlice(stranger.Addr().AsSlice()), Port: 9}, proto)
			cancel()
			if err == nil {
				c.Close()
				t.Error("dial to a stranger succeeded")
			}
			if st := link.Stats(); st.TXNoPeer == 0 {
				t.Errorf("link stats %+v after a dial to %v: want TXNoPeer > 0", st, stranger)
			}

			ln.Close()
			link.Stop()
			ss.Destroy()
			if err := ep.Close(); err != nil {
				t.Fatal(err)
			}
			if err := d.CheckFrames(); err != nil {
				t.Error(err)
			}
		})
	}
}
