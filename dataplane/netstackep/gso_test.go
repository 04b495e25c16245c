package netstackep

import (
	"bytes"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// recSender keeps a copy of every packet.
type recSender struct{ pkts [][]byte }

func (r *recSender) SendIP(_ int, pkt []byte) error {
	r.pkts = append(r.pkts, bytes.Clone(pkt))
	return nil
}

// gsoPacket builds what gVisor's TCP hands a link with host GSO: one IP
// packet with all of payload behind a TCP header with options (12 bytes:
// timestamps), lengths covering the whole, and a partial checksum.
func gsoPacket(t *testing.T, v6 bool, flags header.TCPFlags, payload []byte) []byte {
	t.Helper()
	src, dst := clientIP, serverIP
	if v6 {
		src, dst = netip.MustParseAddr("2001:2::2"), netip.MustParseAddr("2001:2::1")
	}
	const tcpLen = header.TCPMinimumSize + 12
	ipLen := header.IPv4MinimumSize
	if v6 {
		ipLen = header.IPv6MinimumSize
	}
	pkt := make([]byte, ipLen+tcpLen+len(payload))
	sa, da := tcpip.AddrFromSlice(src.AsSlice()), tcpip.AddrFromSlice(dst.AsSlice())
	if v6 {
		header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: uint16(tcpLen + len(payload)),
			TransportProtocol: header.TCPProtocolNumber, HopLimit: 64, SrcAddr: sa, DstAddr: da})
	} else {
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), ID: 0xfffe, Flags: header.IPv4FlagDontFragment,
			TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: sa, DstAddr: da})
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	tcp := header.TCP(pkt[ipLen:])
	tcp.Encode(&header.TCPFields{SrcPort: 80, DstPort: 40000, SeqNum: 0xffffff00, AckNum: 7,
		DataOffset: tcpLen, Flags: flags, WindowSize: 1000})
	copy(tcp[header.TCPMinimumSize:], []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2})
	copy(pkt[ipLen+tcpLen:], payload)
	tcp.SetChecksum(header.PseudoHeaderChecksum(header.TCPProtocolNumber, sa, da, uint16(tcpLen+len(payload))))
	return pkt
}

// checkSegment checks one segment's lengths and checksums and returns its
// TCP header and payload.
func checkSegment(t *testing.T, seg []byte) (header.TCP, []byte) {
	t.Helper()
	var src, dst tcpip.Address
	var tcp header.TCP
	if seg[0]>>4 == 4 {
		ip := header.IPv4(seg)
		if !ip.IsValid(len(seg)) || int(ip.TotalLength()) != len(seg) {
			t.Fatalf("IPv4 header invalid, total length %d of %d bytes", ip.TotalLength(), len(seg))
		}
		if !ip.IsChecksumValid() {
			t.Fatalf("IPv4 header checksum %#x invalid", ip.Checksum())
		}
		src, dst, tcp = ip.SourceAddress(), ip.DestinationAddress(), header.TCP(ip.Payload())
	} else {
		ip := header.IPv6(seg)
		if int(ip.PayloadLength())+header.IPv6MinimumSize != len(seg) {
			t.Fatalf("IPv6 payload length %d of %d bytes", ip.PayloadLength(), len(seg))
		}
		src, dst, tcp = ip.SourceAddress(), ip.DestinationAddress(), header.TCP(ip.Payload())
	}
	data := tcp.Payload()
	if !tcp.IsChecksumValid(src, dst, checksum.Checksum(data, 0), uint16(len(data))) {
		t.Fatalf("TCP checksum %#x invalid", tcp.Checksum())
	}
	return tcp, data
}

// TestWriteSegments: a GSO packet leaves as MSS-sized segments with
// consecutive sequence numbers and IPv4 IDs, FIN and PSH on the last one
// only, CWR on the first only, valid checksums and the payload in order.
func TestWriteSegments(t *testing.T) {
	const mss = 1000
	tests := []struct {
		name    string
		v6      bool
		payload int
		flags   header.TCPFlags
		want    int // segments
	}{
		{"v4 ack only", false, 0, header.TCPFlagAck, 1},
		{"v4 small", false, 100, header.TCPFlagAck | header.TCPFlagPsh, 1},
		{"v4 odd small", false, 101, header.TCPFlagAck | header.TCPFlagPsh, 1},
		{"v4 one mss", false, mss, header.TCPFlagAck | header.TCPFlagPsh, 1},
		{"v4 mss+1", false, mss + 1, header.TCPFlagAck | header.TCPFlagPsh, 2},
		{"v4 3.5 mss fin cwr", false, 3*mss + 501, header.TCPFlagAck | header.TCPFlagPsh | header.TCPFlagFin | header.TCPFlagCwr, 4},
		{"v4 64k", false, 65535 - 52, header.TCPFlagAck | header.TCPFlagPsh, 66},
		{"v6 small", true, 99, header.TCPFlagAck | header.TCPFlagPsh, 1},
		{"v6 5 mss", true, 5 * mss, header.TCPFlagAck | header.TCPFlagPsh | header.TCPFlagFin, 5},
		{"v6 2.3 mss", true, 2*mss + 333, header.TCPFlagAck, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload := make([]byte, tc.payload)
			for i := range payload {
				payload[i] = byte(i*7 + i>>8)
			}
			rec := &recSender{}
			l, err := New(struct{ Receiver }{}, Options{Sender: rec})
			if err != nil {
				t.Fatal(err)
			}
			pkt := gsoPacket(t, tc.v6, tc.flags, payload)
			orig := bytes.Clone(pkt)
			if err := l.writeSegments(pkt, mss, 0); err != nil {
				t.Fatal(err)
			}
			if len(rec.pkts) != tc.want {
				t.Fatalf("got %d segments, want %d", len(rec.pkts), tc.want)
			}
			var got []byte
			seq := uint32(0xffffff00)
			for i, seg := range rec.pkts {
				tcp, data := checkSegment(t, seg)
				if len(data) > mss {
					t.Errorf("segment %d: %d payload bytes, want at most %d", i, len(data), mss)
				}
				if tcp.SequenceNumber() != seq {
					t.Errorf("segment %d: seq %#x, want %#x", i, tcp.SequenceNumber(), seq)
				}
				seq += uint32(len(data))
				want := tc.flags
				if i < len(rec.pkts)-1 {
					want &^= header.TCPFlagFin | header.TCPFlagPsh
				}
				if i > 0 {
					want &^= header.TCPFlagCwr
				}
				if tcp.Flags() != want {
					t.Errorf("segment %d: flags %v, want %v", i, tcp.Flags(), want)
				}
				if !bytes.Equal(seg[len(seg)-len(data)-12:len(seg)-len(data)], orig[len(orig)-tc.payload-12:len(orig)-tc.payload]) {
					t.Errorf("segment %d: TCP options changed", i)
				}
				if !tc.v6 {
					if id, want := header.IPv4(seg).ID(), uint16(0xfffe+i); id != want {
						t.Errorf("segment %d: IPv4 ID %#x, want %#x", i, id, want)
					}
				}
				got = append(got, data...)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("payload of %d bytes differs from the %d sent", len(got), len(payload))
			}
			if st := l.Stats(); st.TXPackets != uint64(tc.want) || st.TXErrors != 0 {
				t.Errorf("stats %+v, want %d packets, no error", st, tc.want)
			}
		})
	}
}

// TestWriteSegmentsMalformed: what is not a TCP packet with sane headers
// is dropped and counted, never cut.
func TestWriteSegmentsMalformed(t *testing.T) {
	good := func() []byte { return gsoPacket(t, false, header.TCPFlagAck, make([]byte, 3000)) }
	tests := []struct {
		name string
		pkt  func() []byte
		mss  int
	}{
		{"empty", func() []byte { return nil }, 1000},
		{"udp", func() []byte { p := good(); p[9] = 17; return p }, 1000},
		{"short tcp", func() []byte { return good()[:30] }, 1000},
		{"bad data offset", func() []byte { p := good(); p[20+12] = 2 << 4; return p }, 1000},
		{"data offset beyond", func() []byte { p := good()[:50]; return p }, 1000},
		{"mss below headers", good, 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recSender{}
			l, err := New(struct{ Receiver }{}, Options{Sender: rec})
			if err != nil {
				t.Fatal(err)
			}
			if err := l.writeSegments(tc.pkt(), tc.mss, 0); err == nil {
				t.Error("got nil error, want one")
			}
			if len(rec.pkts) != 0 || l.Stats().TXErrors != 1 {
				t.Errorf("sent %d, stats %+v: want nothing sent, one error", len(rec.pkts), l.Stats())
			}
		})
	}
}

// TestWritePacketsGSOAllocs: cutting a 64 KiB GSO packet allocates
// nothing.
func TestWritePacketsGSOAllocs(t *testing.T) {
	l, err := New(struct{ Receiver }{}, Options{Sender: fakeSender{}})
	if err != nil {
		t.Fatal(err)
	}
	raw := gsoPacket(t, false, header.TCPFlagAck, make([]byte, 60000))
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(raw)})
	defer pkt.DecRef()
	pkt.GSOOptions = stack.GSO{Type: stack.GSOTCPv4, NeedsCsum: true, MSS: 1448, L3HdrLen: 20}
	var list stack.PacketBufferList
	list.PushBack(pkt)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := l.WritePackets(list); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("got %v allocs per WritePackets, want 0", n)
	}
	if st := l.Stats(); st.TXGSO == 0 || st.TXPackets != st.TXGSO*42 {
		t.Errorf("stats %+v: want 42 segments per GSO packet", st)
	}
}

// FuzzWriteSegments: any bytes and MSS either are refused (and counted) or
// leave as segments that each pass the IP and TCP checksum checks and
// carry the packet's payload, in order; never a panic.
func FuzzWriteSegments(f *testing.F) {
	for _, v6 := range []bool{false, true} {
		for _, n := range []int{0, 1, 999, 1000, 2501} {
			f.Add(gsoPacketF(v6, n), uint16(1000))
		}
	}
	f.Add([]byte{0x45}, uint16(536))
	rec := &recSender{}
	l, err := New(struct{ Receiver }{}, Options{Sender: rec})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pkt []byte, mss uint16) {
		rec.pkts = rec.pkts[:0]
		errs := l.Stats().TXErrors
		_, hdrLen, ok := tcpHeaders(pkt)
		orig := bytes.Clone(pkt)
		if err := l.writeSegments(pkt, int(mss), 0); err != nil {
			if len(rec.pkts) != 0 || l.Stats().TXErrors != errs+1 {
				t.Fatalf("refused (%v) but sent %d, stats %+v", err, len(rec.pkts), l.Stats())
			}
			return
		}
		if !ok {
			t.Fatal("sent a packet tcpHeaders refuses")
		}
		var got []byte
		for _, seg := range rec.pkts {
			_, data := checkSegment(t, seg)
			got = append(got, data...)
		}
		if !bytes.Equal(got, orig[hdrLen:]) {
			t.Fatalf("payload of %d bytes, want the %d sent", len(got), len(orig)-hdrLen)
		}
	})
}

// gsoPacketF is gsoPacket for fuzz seeds (no *testing.T).
func gsoPacketF(v6 bool, n int) []byte {
	var t testing.T
	return gsoPacket(&t, v6, header.TCPFlagAck|header.TCPFlagPsh, make([]byte, n))
}
