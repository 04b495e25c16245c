package netlab

import (
	"fmt"
	"net"
	"net/netip"
)

// SendUDP sends count UDP datagrams from SendNS to dst, from ordinary UDP
// sockets bound to SendAddr (SendAddr6 when dst is IPv6) and each of srcPorts (an ephemeral port when
// srcPorts is empty), round-robin: datagram i leaves from srcPorts[i %
// len(srcPorts)] and carries payload(i) (nil payload func: empty datagrams).
// Varied source ports spread the flows over the veth queues. The sockets are
// unconnected, so ICMP port-unreachable replies do not fail later sends.
// SendUDP does not pace: the receiver must keep up or count losses.
func SendUDP(l *Lab, dst netip.AddrPort, srcPorts []uint16, payload func(i int) []byte, count int) error {
	if count < 0 {
		return fmt.Errorf("netlab: send udp: negative count %d", count)
	}
	if len(srcPorts) == 0 {
		srcPorts = []uint16{0}
	}
	src := l.SendAddr
	if dst.Addr().Unmap().Is6() {
		src = l.SendAddr6
		if !src.IsValid() {
			return fmt.Errorf("netlab: send udp to %s: the lab has no IPv6 (Config.IPv6)", dst)
		}
	}
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	err := l.InSend(func() error {
		for _, p := range srcPorts {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, p)))
			if err != nil {
				return fmt.Errorf("bind %s: %w", netip.AddrPortFrom(src, p), err)
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("netlab: send udp: %w", err)
	}
	for i := range count {
		var b []byte
		if payload != nil {
			b = payload(i)
		}
		c := conns[i%len(conns)]
		if _, err := c.WriteToUDPAddrPort(b, dst); err != nil {
			return fmt.Errorf("netlab: send udp %d of %d to %s: %w", i, count, dst, err)
		}
	}
	return nil
}
