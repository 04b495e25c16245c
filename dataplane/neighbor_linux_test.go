//go:build linux

package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/pcb"
)

// TestWriteToNeighbors covers the peer cache's fallback on an interface,
// the kernel's neighbour table: WriteTo to a peer the endpoint never heard
// from, on the link but without a neighbour entry (the kernel resolves it
// by ARP or neighbour discovery, the XDP program passing the answers to
// it), or with the lab's static entry; and to a destination with no route
// on the interface (ErrUnknownPeer).
func TestWriteToNeighbors(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	const port = 7200
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: ifaceLabPrefix + "n", IPv6: true})
	// Second sender addresses, of which RecvNS knows nothing.
	extra4 := lab.SendAddr.Next().Next() // X.3
	extra6 := lab.SendAddr6.Next().Next()
	err := lab.InSend(func() error {
		link, err := netlink.LinkByName(lab.SendIf)
		if err != nil {
			return err
		}
		for _, a := range []*netlink.Addr{
			{IPNet: &net.IPNet{IP: extra4.AsSlice(), Mask: net.CIDRMask(24, 32)}},
			{IPNet: &net.IPNet{IP: extra6.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD},
		} {
			if err := netlink.AddrAdd(link, a); err != nil {
				return fmt.Errorf("add %s: %w", a.IPNet, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ifc := openLabInterface(t, lab, InterfaceConfig{Socket: txSocketOptions()})

	tests := []struct {
		name  string
		local netip.AddrPort
		dst   netip.Addr
		fail  bool // ErrUnknownPeer expected
	}{
		{"v6 resolved by neighbour discovery", netip.AddrPortFrom(lab.RecvAddr6, port), extra6, false},
		{"v4 resolved by ARP", netip.AddrPortFrom(lab.RecvAddr, port), extra4, false},
		{"v6 static entry, wildcard endpoint", netip.MustParseAddrPort(fmt.Sprintf("[::]:%d", port+1)), lab.SendAddr6, false},
		{"v4 static entry, wildcard endpoint", netip.MustParseAddrPort(fmt.Sprintf("0.0.0.0:%d", port+1)), lab.SendAddr, false},
		{"v6 no route", netip.AddrPortFrom(lab.RecvAddr6, port+2), netip.MustParseAddr("2001:2:ffff::1"), true},
		{"v4 no route", netip.AddrPortFrom(lab.RecvAddr, port+2), netip.MustParseAddr("198.19.255.1"), true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := ifc.Bind(pcb.Spec{Proto: pcb.UDP, Local: tt.local, Owner: testOwner}, EndpointOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer ep.Close()
			dst := netip.AddrPortFrom(tt.dst, uint16(9000+i))
			var c *net.UDPConn
			if !tt.fail {
				if err := lab.InSend(func() (err error) {
					c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(dst))
					return err
				}); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			payload := []byte("never heard from " + tt.dst.String())
			err = ep.WriteTo(payload, dst)
			if tt.fail {
				if !errors.Is(err, ErrUnknownPeer) {
					t.Fatalf("WriteTo %s: %v, want ErrUnknownPeer", dst, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("WriteTo %s: %v", dst, err)
			}
			// The second one finds the peer cache entry.
			if err := ep.WriteTo(payload, dst); err != nil {
				t.Fatalf("second WriteTo %s: %v", dst, err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 2048)
			for k := range 2 {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", k, err)
				}
				wantFrom := lab.RecvAddr
				if tt.dst.Is6() {
					wantFrom = lab.RecvAddr6
				}
				if string(buf[:n]) != string(payload) || from.Addr().Unmap() != wantFrom || from.Port() != tt.local.Port() {
					t.Errorf("datagram %d: %q from %s, want %q from %s:%d", k, buf[:n], from, payload, wantFrom, tt.local.Port())
				}
			}
		})
	}
	if err := ifc.CheckFrames(); err != nil {
		t.Error(err)
	}
}

// TestSendIPEvictedPeer: a peer whose cache entry a newer peer evicted is
// found again in the kernel's neighbour table (PeerCacheSize 1, two peers).
func TestSendIPEvictedPeer(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 1, Prefix: ifaceLabPrefix + "e", IPv6: true})
	ifc := openLabInterface(t, lab, InterfaceConfig{Socket: txSocketOptions()})
	local := netip.AddrPortFrom(lab.RecvAddr6, 7300)
	ep, err := ifc.Bind(pcb.Spec{Proto: pcb.UDP, Local: local, Owner: testOwner}, EndpointOptions{PeerCacheSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	// Learn the lab's sender, then evict it by hand with another peer.
	ep.mu.Lock()
	ep.peers.install(peerEntry{peer: netip.MustParseAddr("2001:2::99"), local: lab.RecvAddr6, l2Len: 14})
	ep.mu.Unlock()
	var c *net.UDPConn
	dst := netip.AddrPortFrom(lab.SendAddr6, 9100)
	if err := lab.InSend(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := append(make([]byte, 40+8), "hello"...)
	packet.PutIPUDP(pkt, local, dst, 40, 64)
	if err := ep.SendIP(PeerQueue, pkt); err != nil {
		t.Fatalf("SendIP to an evicted peer: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "hello" || from != local {
		t.Errorf("got %q from %s (%v), want hello from %s", buf[:n], from, err, local)
	}
}

// TestNeighborLearnedFromSolicitation: a peer that never sent the
// endpoint anything but solicited the receiver's address (neighbour
// discovery, passed to the kernel by the XDP program) is in the kernel's
// table from its solicitation (state stale), so the fallback finds it at
// once, without resolving, and WriteTo reaches it.
func TestNeighborLearnedFromSolicitation(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 1, Prefix: ifaceLabPrefix + "s", IPv6: true})
	peer := lab.SendAddr6.Next().Next()
	var c *net.UDPConn
	err := lab.InSend(func() error {
		link, err := netlink.LinkByName(lab.SendIf)
		if err != nil {
			return err
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: peer.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrAdd(link, a); err != nil {
			return err
		}
		// The sender forgets the receiver, so its next packet solicits it.
		if err := netlink.NeighDel(&netlink.Neigh{LinkIndex: link.Attrs().Index, Family: unix.AF_INET6, IP: lab.RecvAddr6.AsSlice()}); err != nil {
			return fmt.Errorf("delete neighbour: %w", err)
		}
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(peer, 9300)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ifc := openLabInterface(t, lab, InterfaceConfig{Socket: txSocketOptions()})
	local := netip.AddrPortFrom(lab.RecvAddr6, 7400)
	ep, err := ifc.Bind(pcb.Spec{Proto: pcb.UDP, Local: local, Owner: testOwner}, EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()

	// A datagram to a port nobody serves: the sender solicits first.
	if _, err := c.WriteToUDPAddrPort([]byte("x"), netip.AddrPortFrom(lab.RecvAddr6, 9)); err != nil {
		t.Fatal(err)
	}
	// Wait for the kernel's entry without asking the fallback, which
	// would resolve the peer itself.
	kn := ifc.cfg.Neighbors.(*kernelNeighbors)
	var state int
	for deadline := time.Now().Add(2 * time.Second); state&usableNeigh == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, state, err = kn.lookup(peer, unix.AF_INET6); err != nil {
			t.Fatal(err)
		}
	}
	if state&usableNeigh == 0 {
		t.Fatalf("the receiver's kernel did not learn %s from its solicitation (state %#x)", peer, state)
	}
	n, err := kn.Neighbor(peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if mac := net.HardwareAddr(n.HW[:]); mac.String() != lab.SendMAC.String() || n.Local != lab.RecvAddr6 {
		t.Errorf("neighbour %s: %s from %s, want %s from %s", peer, mac, n.Local, lab.SendMAC, lab.RecvAddr6)
	}
	if err := ep.WriteTo([]byte("learned"), netip.AddrPortFrom(peer, 9300)); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	for {
		k, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if from.Addr().Unmap() == lab.RecvAddr6 && from.Port() == 7400 {
			if string(buf[:k]) != "learned" {
				t.Errorf("got %q, want learned", buf[:k])
			}
			return
		}
	}
}
