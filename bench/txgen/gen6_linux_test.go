package txgen

import (
	"context"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestGenIPv6Kernel sends IPv6 frames with each backend to a kernel UDP
// socket in an IPv6 lab: every datagram arrives (or is counted as dropped
// by veth), from the sender's address, with its payload header. (veth marks frames without a checksum
// state as verified, so the kernel does not check the UDP checksum here;
// TestTemplatesDecode6 does.)
func TestGenIPv6Kernel(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_NET_RAW")
	const count = 1000
	for _, b := range []Backend{AFXDP, AFPacket} {
		t.Run(b.String(), func(t *testing.T) {
			lab := labtest.NewLab(t, netlab.Config{Queues: 2, IPv6: true})
			dst := netip.AddrPortFrom(lab.RecvAddr6, 4242)
			var c *net.UDPConn
			if err := lab.InRecv(func() (err error) {
				c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(dst))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadBuffer(4 << 20)
			var g *Generator
			if err := lab.InSend(func() (err error) {
				g, err = New(Config{Ifname: lab.SendIf, Dst: dst, Backend: b, Count: count, Rate: 5000, Flows: 16, Size: 99, Logf: t.Logf})
				return err
			}); err != nil {
				t.Fatalf("New: %v", err)
			}
			defer g.Close()
			got := make(chan int, 1)
			go func() {
				n := 0
				buf := make([]byte, 2048)
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for n < count {
					k, from, err := c.ReadFromUDPAddrPort(buf)
					if err != nil {
						break
					}
					if _, _, ok := ParsePayload(buf[:k]); !ok || k != 99-62 || from.Addr() != lab.SendAddr6 {
						t.Errorf("datagram of %d bytes from %s: not a generated one", k, from)
						continue
					}
					n++
				}
				got <- n
			}()
			st, err := g.Run(context.Background(), nil)
			if err != nil || st.Sent != count {
				t.Fatalf("Run: %+v, %v; want %d sent", st, err, count)
			}
			n := <-got
			// veth drops what its peer's ring cannot take when the
			// receiving CPU is starved (shared CI machine), and counts
			// it as the sender's tx_dropped: a drop there is load, a
			// datagram missing without one is a wrong frame.
			var dropped uint64
			lab.InSend(func() error {
				l, err := netlink.LinkByName(lab.SendIf)
				if err == nil && l.Attrs().Statistics != nil {
					dropped = l.Attrs().Statistics.TxDropped
				}
				return err
			})
			if n != count {
				t.Logf("kernel socket received %d of %d, %s tx_dropped %d", n, count, lab.SendIf, dropped)
			}
			if uint64(n)+dropped < count || n < count/2 {
				var snmp []byte
				lab.InRecv(func() (err error) { snmp, err = os.ReadFile("/proc/net/snmp6"); return err })
				t.Errorf("kernel socket received %d of %d with %d dropped by veth; receiver's /proc/net/snmp6:\n%s", n, count, dropped, snmp)
			}
		})
	}
}
