// Command mkpcap writes the deterministic capture that `xdpmux replay` is
// demonstrated and tested on (testdata/demo.pcap): UDP and TCP flows over
// IPv4 and IPv6, 802.1Q and QinQ tagged frames, traffic xdpmux does not
// claim (ARP, ICMP, fragments, unbound ports) and malformed frames of every
// kind SPEC section 5 names.
//
//	go run ./scripts/mkpcap -o testdata/demo.pcap
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

var (
	recvMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}
	sendMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x00, 0x02}
	server4 = netip.MustParseAddr("198.18.0.1")
	server6 = netip.MustParseAddr("2001:db8::1")
)

func main() {
	out := flag.String("o", "testdata/demo.pcap", "output file")
	seed := flag.Uint64("seed", 1, "random seed (the committed capture uses 1)")
	flag.Parse()
	if err := write(*out, *seed); err != nil {
		fmt.Fprintf(os.Stderr, "mkpcap: %v\n", err)
		os.Exit(1)
	}
}

func write(name string, seed uint64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0x786470))
	ts := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i, frame := range frames(rng) {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(frame), Length: len(frame)}
		if err := w.WritePacket(ci, frame); err != nil {
			return err
		}
	}
	return f.Close()
}

func client4(rng *rand.Rand) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(1 + rng.IntN(254)), byte(1 + rng.IntN(254))})
}

func client6(rng *rand.Rand) netip.Addr {
	b := server6.As16()
	b[14], b[15] = byte(rng.IntN(256)), byte(1+rng.IntN(254))
	return netip.AddrFrom16(b)
}

func port(rng *rand.Rand) uint16 { return uint16(1024 + rng.IntN(64511)) }

// frames returns the capture's frames, shuffled so that kinds interleave.
func frames(rng *rand.Rand) [][]byte {
	var out [][]byte
	add := func(n int, f func() []byte) {
		for range n {
			out = append(out, f())
		}
	}
	payload := []byte("xdpmux demo payload")
	add(1200, func() []byte { return udp(client4(rng), port(rng), server4, 53, payload, nil) })
	add(400, func() []byte { return tcp(client4(rng), port(rng), server4, 80) })
	add(300, func() []byte { return udp(client6(rng), port(rng), server6, 53, payload, nil) })
	add(60, func() []byte { return udp(client4(rng), port(rng), server4, 53, payload, []uint16{100}) })
	add(30, func() []byte { return udp(client4(rng), port(rng), server4, 53, payload, []uint16{200, 100}) })
	add(40, func() []byte { return udp(client4(rng), port(rng), server4, 5353, payload, nil) })
	add(10, func() []byte { return icmp(client4(rng), server4) })
	add(10, func() []byte { return arp(client4(rng), server4) })
	add(10, func() []byte { return fragment(client4(rng), server4) })
	// Malformed, one kind at a time.
	add(5, func() []byte { f := udp(client4(rng), port(rng), server4, 53, payload, nil); return f[:14+10] })
	add(5, func() []byte { f := udp(client4(rng), port(rng), server4, 53, payload, nil); f[14] = 0x43; return f })
	add(5, func() []byte {
		f := udp(client4(rng), port(rng), server4, 53, payload, nil)
		f[16], f[17] = 0x05, 0xdc // total length 1500 in a short frame
		return f
	})
	add(5, func() []byte { return longExtChain(client6(rng), server6) })
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// l2 builds the Ethernet header and any VLAN tags (outer first) for an
// inner ethertype.
func l2(inner layers.EthernetType, vlans []uint16) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: sendMAC, DstMAC: recvMAC, EthernetType: inner}
	ls := []gopacket.SerializableLayer{eth}
	for i, id := range vlans {
		next := inner
		if i+1 < len(vlans) {
			next = layers.EthernetTypeDot1Q
		}
		if i == 0 {
			eth.EthernetType = layers.EthernetTypeDot1Q
			if len(vlans) > 1 {
				eth.EthernetType = layers.EthernetTypeQinQ
			}
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Type: next})
	}
	return ls
}

func ipLayer(src, dst netip.Addr, proto layers.IPProtocol) gopacket.NetworkLayer {
	if src.Is4() {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func etherType(a netip.Addr) layers.EthernetType {
	if a.Is4() {
		return layers.EthernetTypeIPv4
	}
	return layers.EthernetTypeIPv6
}

func udp(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, payload []byte, vlans []uint16) []byte {
	ip := ipLayer(src, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	ls := append(l2(etherType(src), vlans), ip.(gopacket.SerializableLayer), u, gopacket.Payload(payload))
	return serialize(ls...)
}

func tcp(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
	ip := ipLayer(src, dst, layers.IPProtocolTCP)
	t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 65535, Seq: 1}
	t.SetNetworkLayerForChecksum(ip)
	return serialize(append(l2(etherType(src), nil), ip.(gopacket.SerializableLayer), t)...)
}

func icmp(src, dst netip.Addr) []byte {
	ip := ipLayer(src, dst, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1}
	return serialize(append(l2(layers.EthernetTypeIPv4, nil), ip.(gopacket.SerializableLayer), ic)...)
}

func arp(src, dst netip.Addr) []byte {
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: sendMAC, SourceProtAddress: src.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: dst.AsSlice()}
	return serialize(append(l2(layers.EthernetTypeARP, nil), a)...)
}

// fragment is the first fragment of a UDP datagram: xdpmux never claims
// fragments, so it is hashed on addresses only and unmatched.
func fragment(src, dst netip.Addr) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(),
		Flags: layers.IPv4MoreFragments, Id: 7}
	body := make([]byte, 24)
	body[2], body[3] = 0, 53
	return serialize(append(l2(layers.EthernetTypeIPv4, nil), ip, gopacket.Payload(body))...)
}

// longExtChain is an IPv6 packet with more destination-options headers than
// the parser follows.
func longExtChain(src, dst netip.Addr) []byte {
	const n = 12
	body := make([]byte, 0, n*8+8)
	for i := range n {
		next := byte(60) // another destination options header
		if i == n-1 {
			next = 17
		}
		body = append(body, next, 0, 1, 4, 0, 0, 0, 0) // PadN option fills the 8 bytes
	}
	body = append(body, 0x30, 0x39, 0, 53, 0, 8, 0, 0) // UDP header
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: 60, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	return serialize(append(l2(layers.EthernetTypeIPv6, nil), ip, gopacket.Payload(body))...)
}
