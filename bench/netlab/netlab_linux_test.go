//go:build linux

package netlab

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
)

// requirePrivileged skips a test that needs root, or fails it when
// XDPMUX_PRIVILEGED=1 says privileged tests must run.
func requirePrivileged(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("XDPMUX_PRIVILEGED") == "1" {
		t.Fatal("needs root (XDPMUX_PRIVILEGED=1 forbids skipping)")
	}
	t.Skip("needs root")
}

func newLab(t *testing.T, cfg Config) *Lab {
	t.Helper()
	requirePrivileged(t)
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}

func TestNewClose(t *testing.T) {
	for _, queues := range []int{1, 4} {
		t.Run(strconv.Itoa(queues), func(t *testing.T) {
			l := newLab(t, Config{Queues: queues})
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
	for _, cfg := range []Config{
		{Queues: -1},
		{Queues: MaxQueues + 1},
		{Prefix: "toolongprefix"},
		{Prefix: "a-b"},
		{MTU: 20},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("New(%+v) = %v, want ErrBadConfig", cfg, err)
		}
	}
}

func TestInNSRestores(t *testing.T) {
	l := newLab(t, Config{})
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
	l := newLab(t, Config{Queues: 2})
	const count = 200
	port := uint16(40000)
	var conn *net.UDPConn
	err := l.InRecv(func() error {
		var err error
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.RecvAddr, port)))
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
	if err := SendUDP(l, netip.AddrPortFrom(l.RecvAddr, port), []uint16{41000, 41001, 41002, 41003}, payload, count); err != nil {
		t.Fatal(err)
	}
	if seen := <-got; len(seen) != count {
		t.Errorf("received %d distinct datagrams, want %d", len(seen), count)
	}
}

func TestCleanup(t *testing.T) {
	requirePrivileged(t)
	// A pid that is surely dead: a child that has exited and been reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	const prefix = "xmcl"
	stale := fmt.Sprintf("%s-%d-abcdef-r", prefix, dead)
	h, err := newNamed(stale)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	t.Cleanup(func() { deleteNamed(stale) })

	live := newLab(t, Config{Prefix: prefix})
	Cleanup(prefix)
	if nsExists(stale) {
		t.Errorf("stale namespace %s survived Cleanup", stale)
	}
	if !nsExists(live.RecvNS) || !nsExists(live.SendNS) {
		t.Errorf("Cleanup removed the namespaces of a live process")
	}
}
