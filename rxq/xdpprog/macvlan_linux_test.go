//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package xdpprog

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestMacvlanChildNotClaimed puts a macvlan child (its own MAC and address)
// on the interface the program is attached to, claims the child's address
// and port in drop-claimed mode, and checks that the child's frames still
// reach it: they are not for the parent's MAC.
func TestMacvlanChildNotClaimed(t *testing.T) {
	const (
		count = 100
		port  = 6100
	)
	l := labtest.NewLab(t, netlab.Config{Queues: 1})
	p := attach(t, l, Options{DropClaimed: true})
	childMAC := net.HardwareAddr{0x02, 0x5e, 0x10, 0x00, 0x00, 0x01}
	childAddr := l.RecvAddr.Next()
	name := l.RecvIf
	if len(name) > 13 {
		name = name[:13]
	}
	name += "mv" // inside the lab's namespace, deleted with it

	err := l.InRecv(func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		attrs.ParentIndex = l.RecvIndex
		attrs.HardwareAddr = childMAC
		mv := &netlink.Macvlan{LinkAttrs: attrs, Mode: netlink.MACVLAN_MODE_BRIDGE}
		if err := netlink.LinkAdd(mv); err != nil {
			return err
		}
		if err := netlink.AddrAdd(mv, &netlink.Addr{IPNet: &net.IPNet{IP: childAddr.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
			return err
		}
		return netlink.LinkSetUp(mv)
	})
	if err != nil {
		t.Fatalf("add macvlan %s: %v", name, err)
	}
	err = l.InSend(func() error {
		sl, err := netlink.LinkByName(l.SendIf)
		if err != nil {
			return err
		}
		return netlink.NeighSet(&netlink.Neigh{LinkIndex: sl.Attrs().Index, Family: unix.AF_INET,
			State: netlink.NUD_PERMANENT, IP: childAddr.AsSlice(), HardwareAddr: childMAC})
	})
	if err != nil {
		t.Fatalf("neighbour %s: %v", childAddr, err)
	}
	if err := p.Claim(ProtoUDP, childAddr, port); err != nil {
		t.Fatal(err)
	}
	r := &receiver{done: make(chan int, 1)}
	if err := l.InRecv(func() (err error) {
		r.conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(childAddr, port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer r.conn.Close()

	got := make(chan int, 1)
	go func() { got <- r.count(count, 5*time.Second) }()
	if err := netlab.SendUDP(l, netip.AddrPortFrom(childAddr, port), srcPorts, func(int) []byte { return []byte("mv") }, count); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != count {
		t.Errorf("macvlan child's socket received %d, want %d", n, count)
	}
	// Passed for the MAC, before any claim or socket lookup.
	if s := sum(counters(t, p)); s != (QueueCounters{Queue: -1, Passed: count, NotForHost: count}) {
		t.Errorf("counters %+v, want passed and not-for-host %d only", s, count)
	}
}
