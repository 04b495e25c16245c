package main

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/localgroup"
)

// TestWriteCapture records a real quic-go session against h3server (quic
// policy, 4 members): 12 HTTP/3 connections, each rebinding to a new source
// port twice (rebindEvery apart) with a request after each. It writes every client datagram
// as an Ethernet frame to $XDPMUX_QUIC_CAPTURE (a pcap) and, beside it
// (.txt), one line per source port: "PORT CONNECTION MEMBER", the member
// that served the connection. testdata/quic-rebind.pcap, which the
// `xdpmux replay` tests route, was made with it:
//
//	XDPMUX_QUIC_CAPTURE=$PWD/testdata/quic-rebind.pcap go test -run TestWriteCapture ./examples/h3server
func TestWriteCapture(t *testing.T) {
	path := os.Getenv("XDPMUX_QUIC_CAPTURE")
	if path == "" {
		t.Skip("writes a capture: set XDPMUX_QUIC_CAPTURE=FILE")
	}
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: labPrefix})
	const members, conns, rebinds = 4, 12, 2
	s := startIn(t, lab, options{Members: members, Policy: localgroup.QUIC})
	type dgram struct {
		conn, port int
		p          []byte
	}
	var mu sync.Mutex
	var sent []dgram
	cs, idx := recordedClients(t, lab, conns, func(conn, port int, p []byte) {
		mu.Lock()
		sent = append(sent, dgram{conn, port, append([]byte(nil), p...)})
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rebinds {
				time.Sleep(rebindEvery)
				if err := c.conn.Rebind(); err != nil {
					t.Error(err)
					return
				}
				if got, err := c.whoami(); err != nil || got != idx[i] {
					t.Errorf("client %d: member %d, %v, want %d", i, got, err, idx[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, c := range cs {
		c.close()
	}
	s.close()

	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	server := netip.AddrPortFrom(lab.RecvAddr, 443)
	ports := map[int]int{} // port -> connection
	mu.Lock()
	defer mu.Unlock()
	for i, d := range sent {
		ports[d.port] = d.conn
		fr, err := udpFrame(netip.AddrPortFrom(lab.SendAddr, uint16(d.port)), server, d.p)
		if err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1, int64(i)*1000), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	tf, err := os.Create(path[:len(path)-len(".pcap")] + ".txt")
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	bw := bufio.NewWriter(tf)
	fmt.Fprintln(bw, "# PORT CONNECTION MEMBER: written by TestWriteCapture (examples/h3server)")
	for port, conn := range ports {
		fmt.Fprintf(bw, "%d %d %d\n", port, conn, idx[conn])
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d datagrams of %d connections from %d ports to %s", len(sent), conns, len(ports), path)
}

// udpFrame builds an Ethernet/IPv4/UDP frame.
func udpFrame(src, dst netip.AddrPort, payload []byte) ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, u, gopacket.Payload(payload))
	return buf.Bytes(), err
}
