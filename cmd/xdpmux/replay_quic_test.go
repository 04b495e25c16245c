package main

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xdpmux/xdpmux/localgroup/quiclb"
)

// udpFrame builds an IPv4 UDP frame with the given payload.
func udpFrame(t testing.TB, src netip.AddrPort, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, u, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// quicPacket returns a QUIC packet whose destination connection ID carries
// server ID sid: short header, or a v1 Handshake packet.
func quicPacket(rng *rand.Rand, lb quiclb.Config, sid uint32, handshake bool) []byte {
	cid := make([]byte, lb.CIDLen)
	for i := range cid {
		cid[i] = byte(rng.Uint32())
	}
	lb.Encode(cid, sid)
	var p []byte
	if handshake {
		p = append([]byte{0xe0, 0, 0, 0, 1, byte(len(cid))}, cid...)
		p = append(p, 8, 1, 2, 3, 4, 5, 6, 7, 8)
	} else {
		p = append([]byte{0x40}, cid...)
	}
	for range 60 {
		p = append(p, byte(rng.Uint32()))
	}
	return p
}

// TestReplayQUICRoutesByServerID: packets naming server IDs 1..4 from many
// client ports (a client whose port keeps changing) all reach the member
// with that server ID under -policy quic, and an unknown server ID falls
// back to the hash; under -policy threshold the same packets scatter.
func TestReplayQUICRoutesByServerID(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	lb := quiclb.Config{ServerIDLen: 1, CIDLen: 9}
	server := netip.MustParseAddrPort("198.18.0.1:443")
	var frames [][]byte
	var sids []uint32
	for i := range 400 {
		sid := uint32(1 + i%5) // 5 names no member
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(rng.IntN(250))}), uint16(1024+rng.IntN(60000)))
		frames = append(frames, udpFrame(t, src, server, quicPacket(rng, lb, sid, i%3 == 0)))
		sids = append(sids, sid)
	}
	file := writePcap(t, frames)
	perSID := func(policy string) map[uint32]map[string]int {
		stdout, stderr, status := replayCmd("-pcap", file, "-trace", "-queues", "2", "-policy", policy,
			"-quic-sid-len", "1", "-quic-cid-len", "9", "udp/0.0.0.0:443/4")
		if status != 0 {
			t.Fatalf("%s: status %d: %s", policy, status, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != len(frames) {
			t.Fatalf("%s: %d trace lines, want %d", policy, len(lines), len(frames))
		}
		out := map[uint32]map[string]int{}
		for i, l := range lines {
			f := strings.Fields(l)
			if out[sids[i]] == nil {
				out[sids[i]] = map[string]int{}
			}
			out[sids[i]][f[3]]++
		}
		return out
	}
	got := perSID("quic")
	for sid := uint32(1); sid <= 4; sid++ {
		want := "udp/0.0.0.0:443#" + string(rune('0'+sid-1))
		if len(got[sid]) != 1 || got[sid][want] != 80 {
			t.Errorf("quic: server ID %d went to %v, want all 80 to %s", sid, got[sid], want)
		}
	}
	if len(got[5]) < 3 {
		t.Errorf("quic: unknown server ID 5 went to %v, want the hash to spread it", got[5])
	}
	th := perSID("threshold")
	for sid := uint32(1); sid <= 4; sid++ {
		if len(th[sid]) < 3 {
			t.Errorf("threshold: server ID %d went to %v, want the hash to spread it", sid, th[sid])
		}
	}
	_, stderr, status := replayCmd("-pcap", file, "-policy", "quic", "-quic-cid-len", "4", "udp/0.0.0.0:443/4")
	if status != 2 || !strings.Contains(stderr, "invalid QUIC-LB config") {
		t.Errorf("-quic-cid-len 4: status %d, stderr %q, want 2 and the config error", status, stderr)
	}
}
