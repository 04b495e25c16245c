package rxq_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq"
)

// buildUDP writes an Ethernet/IPv4/UDP frame into f and returns its length.
func buildUDP(f []byte, dstMAC, srcMAC net.HardwareAddr, src, dst netip.AddrPort, payload []byte) int {
	copy(f[0:], dstMAC)
	copy(f[6:], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	total := 20 + 8 + len(payload)
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(total))
	binary.BigEndian.PutUint32(ip[4:], 0) // id, flags, fragment offset
	ip[8], ip[9] = 64, 17
	ip[10], ip[11] = 0, 0
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	binary.BigEndian.PutUint16(udp[6:], 0) // no checksum (IPv4)
	copy(f[42:], payload)
	return 14 + total
}

// TestSocketTransmit sends UDP datagrams from an AF_XDP socket on the
// receiving side's queue to an ordinary UDP socket on the sending side and
// checks that they arrive and that every frame comes back through the
// completion ring.
func TestSocketTransmit(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	const count = 300
	lab := labtest.NewLab(t, netlab.Config{Queues: 1})
	var s *rxq.Socket
	var conn *net.UDPConn
	dst := netip.AddrPortFrom(lab.SendAddr, 9999)
	if err := lab.InRecv(func() (err error) {
		o := rxq.DefaultSocketOptions()
		o.TXRingSize = 256
		s, err = rxq.OpenQueue(lab.RecvIf, 0, &o)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := lab.InSend(func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	before := s.FrameStats()
	umem := s.UMEM()
	descs := make([]rxq.Desc, 0, rxq.BatchSize)
	got := map[string]bool{}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(10 * time.Second)
	// Rounds of one batch: transmit, wait for the completions, read the
	// datagrams (a UDP socket's receive buffer holds only ~256 of them).
	for sent := 0; sent < count; {
		descs = descs[:0]
		for len(descs) < cap(descs) && sent+len(descs) < count {
			addr, ok := s.AllocFrame()
			if !ok {
				t.Fatalf("no free frame with %d sent", sent)
			}
			i := sent + len(descs)
			n := buildUDP(umem[addr:], lab.SendMAC, lab.RecvMAC,
				netip.AddrPortFrom(lab.RecvAddr, 5555), dst, []byte(fmt.Sprintf("tx %d", i)))
			descs = append(descs, rxq.Desc{Addr: addr, Len: uint32(n)})
		}
		if n := s.Transmit(descs); n != len(descs) {
			t.Fatalf("Transmit(%d) = %d on an empty TX ring", len(descs), n)
		}
		sent += len(descs)
		// Every frame comes back: fill + free as before.
		for s.Complete(); s.FrameStats() != before; s.Complete() {
			if time.Now().After(deadline) {
				t.Fatalf("frames not completed: %+v, want %+v", s.FrameStats(), before)
			}
			time.Sleep(100 * time.Microsecond)
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		for len(got) < sent {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("after %d datagrams: %v", len(got), err)
			}
			got[string(buf[:n])] = true
		}
	}
	for i := range count {
		if !got[fmt.Sprintf("tx %d", i)] {
			t.Errorf("datagram %d not received", i)
		}
	}
	st, err := s.Stats()
	if err != nil || st.TxInvalidDescs != 0 {
		t.Errorf("Stats %+v, %v: want no invalid TX descriptors", st, err)
	}
}
