//go:build linux

package sockdiag

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestSocketsInNamespace opens the diag socket inside a lab namespace and
// lists from outside it: it sees that namespace's sockets, and only those.
func TestSocketsInNamespace(t *testing.T) {
	lab := labtest.NewLab(t, netlab.Config{Prefix: "xmsd"})
	const port = 6101
	var (
		c   *Conn
		udp *net.UDPConn
		tcp net.Listener
		v6  net.Listener
	)
	err := lab.InRecv(func() error {
		ns, err := netns.Get()
		if err != nil {
			return err
		}
		defer ns.Close()
		if c, err = Open(ns); err != nil {
			return err
		}
		if udp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lab.RecvAddr, port))); err != nil {
			return err
		}
		if tcp, err = net.Listen("tcp", "[::]:6101"); err != nil { // dual-stack
			return err
		}
		v6, err = net.Listen("tcp6", "[::]:6102") // Go sets IPV6_V6ONLY
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer udp.Close()
	defer tcp.Close()
	defer v6.Close()

	tests := []struct {
		proto uint8
		port  uint16
		want  []Socket // UID, Inode not compared
	}{
		{unix.IPPROTO_UDP, port, []Socket{{Proto: unix.IPPROTO_UDP, Local: netip.AddrPortFrom(lab.RecvAddr, port),
			Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), 0), State: unix.BPF_TCP_CLOSE}}},
		{unix.IPPROTO_TCP, port, []Socket{{Proto: unix.IPPROTO_TCP, IPv6: true, Local: netip.AddrPortFrom(netip.IPv6Unspecified(), port),
			Remote: netip.AddrPortFrom(netip.IPv6Unspecified(), 0), State: unix.BPF_TCP_LISTEN}}},
		{unix.IPPROTO_TCP, port + 1, []Socket{{Proto: unix.IPPROTO_TCP, IPv6: true, V6Only: true, Local: netip.AddrPortFrom(netip.IPv6Unspecified(), port+1),
			Remote: netip.AddrPortFrom(netip.IPv6Unspecified(), 0), State: unix.BPF_TCP_LISTEN}}},
		{unix.IPPROTO_UDP, port + 1, nil},
	}
	for _, tt := range tests {
		got, err := c.Sockets(tt.proto, tt.port)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tt.want) {
			t.Errorf("proto %d port %d: got %+v, want %+v", tt.proto, tt.port, got, tt.want)
			continue
		}
		for i := range got {
			if got[i].Inode == 0 {
				t.Errorf("proto %d port %d: inode 0", tt.proto, tt.port)
			}
			got[i].UID, got[i].Inode = 0, 0
			if got[i] != tt.want[i] {
				t.Errorf("proto %d port %d: got %+v, want %+v", tt.proto, tt.port, got[i], tt.want[i])
			}
		}
	}
	if _, err := c.Sockets(unix.IPPROTO_SCTP, port); err == nil {
		t.Error("sctp: no error")
	}
	c.Close()
	if _, err := c.Sockets(unix.IPPROTO_UDP, port); err == nil {
		t.Error("after close: no error")
	}
}

func TestStateName(t *testing.T) {
	tests := []struct {
		proto, state uint8
		want         string
	}{
		{unix.IPPROTO_UDP, unix.BPF_TCP_CLOSE, "UNCONN"},
		{unix.IPPROTO_UDP, unix.BPF_TCP_ESTABLISHED, "ESTAB"},
		{unix.IPPROTO_TCP, unix.BPF_TCP_LISTEN, "LISTEN"},
		{unix.IPPROTO_TCP, unix.BPF_TCP_ESTABLISHED, "ESTAB"},
		{unix.IPPROTO_TCP, unix.BPF_TCP_TIME_WAIT, "TIME-WAIT"},
		{unix.IPPROTO_TCP, 0, "state(0)"},
		{unix.IPPROTO_TCP, 99, "state(99)"},
	}
	for _, tt := range tests {
		if got := StateName(tt.proto, tt.state); got != tt.want {
			t.Errorf("StateName(%d, %d) = %q, want %q", tt.proto, tt.state, got, tt.want)
		}
	}
}
