//go:build linux

package netlab_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

func newLab(t *testing.T, cfg netlab.Config) *netlab.Lab {
	t.Helper()
	labtest.RequirePrivileged(t, "CAP_SYS_ADMIN, CAP_NET_ADMIN")
	l, err := netlab.New(cfg)
	if err != nil {
		t.Fatalf("netlab.New(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join(netlab.NetnsDir, name))
	return err == nil
}

func TestNewClose(t *testing.T) {
	for _, queues := range []int{1, 4} {
		t.Run(strconv.Itoa(queues), func(t *testing.T) {
			l := newLab(t, netlab.Config{Queues: queues})
			for _, ns := range []string{l.RecvNS, l.SendNS} {
				if !nsExists(ns) {
					t.Errorf("namespace %s missing after New", ns)
				}
			}
			if len(l.RecvIf) > 15 || len(l.SendIf) > 15 {
				t.Errorf("interface names %q %q longer than 15", l.RecvIf, l.SendIf)
			}
			if !netip.MustParsePrefix("198.18.0.0/15").Contains(l.RecvAddr) ||
				!netip.MustParsePrefix("198.18.0.0/15").Contains(l.SendAddr) {
				t.Errorf("addresses %s %s outside 198.18.0.0/15", l.RecvAddr, l.SendAddr)
			}
			err := l.InRecv(func() error {
				link, err := netlink.LinkByName(l.RecvIf)
				if err != nil {
					return err
				}
				a := link.Attrs()
				if a.Index != l.RecvIndex {
					return fmt.Errorf("ifindex %d, want %d", a.Index, l.RecvIndex)
				}
				if a.NumRxQueues != queues || a.NumTxQueues != queues {
					return fmt.Errorf("queues rx %d tx %d, want %d", a.NumRxQueues, a.NumTxQueues, queues)
				}
				if !bytes.Equal(a.HardwareAddr, l.RecvMAC) {
					return fmt.Errorf("mac %s, want %s", a.HardwareAddr, l.RecvMAC)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for _, ns := range []string{l.RecvNS, l.SendNS} {
				if nsExists(ns) {
					t.Errorf("namespace %s still there after Close", ns)
				}
			}
			if err := l.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []netlab.Config{
		{Queues: -1},
		{Queues: netlab.MaxQueues + 1},
		{Prefix: "toolongprefix"},
		{Prefix: "a-b"},
		{MTU: 20},
	} {
		if _, err := netlab.New(cfg); !errors.Is(err, netlab.ErrBadConfig) {
			t.Errorf("netlab.New(%+v) = %v, want ErrBadConfig", cfg, err)
		}
	}
}

func TestInNSRestores(t *testing.T) {
	l := newLab(t, netlab.Config{})
	before, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	var inside netns.NsHandle
	err = l.InRecv(func() error {
		var err error
		inside, err = netns.Get()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	if inside.Equal(before) {
		t.Error("InRecv did not switch namespace")
	}
	func() {
		defer func() { recover() }()
		_ = l.InSend(func() error { panic("boom") })
	}()
	after, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if !after.Equal(before) {
		t.Error("thread not back in its namespace after InRecv/InSend")
	}
	want := errors.New("from fn")
	if err := l.InSend(func() error { return want }); !errors.Is(err, want) {
		t.Errorf("InSend error = %v, want %v", err, want)
	}
}

func TestUDPReachability(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  netlab.Config
		v6   bool
	}{
		{"v4", netlab.Config{Queues: 2}, false},
		{"v4 in a v6 lab", netlab.Config{Queues: 2, IPv6: true}, false},
		{"v6", netlab.Config{Queues: 2, IPv6: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, tc.cfg)
			addr := l.RecvAddr
			if tc.v6 {
				addr = l.RecvAddr6
			}
			const count = 200
			port := uint16(40000)
			var conn *net.UDPConn
			err := l.InRecv(func() error {
				var err error
				conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, port)))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()

			got := make(chan map[int]bool, 1)
			go func() {
				seen := map[int]bool{}
				buf := make([]byte, 2048)
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				for len(seen) < count {
					n, _, err := conn.ReadFromUDPAddrPort(buf)
					if err != nil {
						break
					}
					if i, err := strconv.Atoi(string(buf[:n])); err == nil {
						seen[i] = true
					}
				}
				got <- seen
			}()
			payload := func(i int) []byte { return []byte(strconv.Itoa(i)) }
			if err := netlab.SendUDP(l, netip.AddrPortFrom(addr, port), []uint16{41000, 41001, 41002, 41003}, payload, count); err != nil {
				t.Fatal(err)
			}
			if seen := <-got; len(seen) != count {
				t.Errorf("received %d distinct datagrams, want %d", len(seen), count)
			}
		})
	}
}

// TestIPv6Lab checks Config.IPv6: addresses in 2001:2::/48, one /64 per
// lab, besides it only the link-local address, permanent neighbour entries both ways; and
// that a lab without it has no IPv6 at all.
func TestIPv6Lab(t *testing.T) {
	l := newLab(t, netlab.Config{IPv6: true})
	bench := netip.MustParsePrefix("2001:2::/48")
	if !bench.Contains(l.RecvAddr6) || !bench.Contains(l.SendAddr6) {
		t.Fatalf("addresses %s %s outside %s", l.RecvAddr6, l.SendAddr6, bench)
	}
	if p, _ := l.RecvAddr6.Prefix(64); !p.Contains(l.SendAddr6) || l.RecvAddr6 == l.SendAddr6 {
		t.Errorf("addresses %s %s: want two of one /64", l.RecvAddr6, l.SendAddr6)
	}
	check := func(ns, ifname string, self, peer netip.Addr, peerMAC net.HardwareAddr) {
		t.Helper()
		err := netlab.InNamespace(ns, func() error {
			link, err := netlink.LinkByName(ifname)
			if err != nil {
				return err
			}
			addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			var got []string
			for _, a := range addrs {
				if ip, _ := netip.AddrFromSlice(a.IP); !ip.IsLinkLocalUnicast() {
					got = append(got, a.IPNet.String())
				}
			}
			if want := []string{netip.PrefixFrom(self, 64).String()}; fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("%s: IPv6 addresses but link-local %v, want %v", ifname, got, want)
			}
			neighs, err := netlink.NeighList(link.Attrs().Index, netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			for _, n := range neighs {
				if a, _ := netip.AddrFromSlice(n.IP); a == peer {
					if n.State != netlink.NUD_PERMANENT || !bytes.Equal(n.HardwareAddr, peerMAC) {
						return fmt.Errorf("%s: neighbour %s state %#x mac %s, want permanent %s", ifname, peer, n.State, n.HardwareAddr, peerMAC)
					}
					return nil
				}
			}
			return fmt.Errorf("%s: no neighbour entry for %s in %v", ifname, peer, neighs)
		})
		if err != nil {
			t.Error(err)
		}
	}
	check(l.RecvNS, l.RecvIf, l.RecvAddr6, l.SendAddr6, l.SendMAC)
	check(l.SendNS, l.SendIf, l.SendAddr6, l.RecvAddr6, l.RecvMAC)

	v4 := newLab(t, netlab.Config{})
	if v4.RecvAddr6.IsValid() || v4.SendAddr6.IsValid() {
		t.Errorf("IPv4-only lab has IPv6 addresses %s %s", v4.RecvAddr6, v4.SendAddr6)
	}
	if err := netlab.SendUDP(v4, netip.AddrPortFrom(l.RecvAddr6, 9), nil, nil, 1); err == nil {
		t.Error("SendUDP to IPv6 in an IPv4-only lab: no error")
	}
}

func TestCleanup(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_SYS_ADMIN, CAP_NET_ADMIN")
	// A pid that is surely dead: a child that has exited and been reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	const prefix = "xmcl"
	stale := fmt.Sprintf("%s-%d-abcdef-r", prefix, dead)
	h, err := netlab.NewNamed(stale)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	t.Cleanup(func() { netlab.DeleteNamed(stale) })

	live := newLab(t, netlab.Config{Prefix: prefix})
	netlab.Cleanup(prefix)
	if nsExists(stale) {
		t.Errorf("stale namespace %s survived Cleanup", stale)
	}
	if !nsExists(live.RecvNS) || !nsExists(live.SendNS) {
		t.Errorf("netlab.Cleanup removed the namespaces of a live process")
	}
}
