//go:build linux

package dataplane

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

const bindLabPrefix = "xmbd"

// TestInterfaceBindChecks binds through OpenInterface next to kernel
// sockets of the receive namespace: a UDP socket, a TCP listener and an
// established TCP connection hold their ports (EADDRINUSE), a non-local
// address is refused (EADDRNOTAVAIL), and the namespace's
// ip_unprivileged_port_start, read at open time, decides EACCES.
func TestInterfaceBindChecks(t *testing.T) {
	lab := labtest.NewLab(t, netlab.Config{Queues: 1, Prefix: bindLabPrefix})
	const (
		udpPort  = 6001
		tcpPort  = 6002
		peerPort = 6003
		v6Port   = 6004 // a v6-only [::] listener
		dualPort = 6005 // a dual-stack [::] listener
	)
	// The kernel's sockets: in RecvNS, bound to the lab's address or the
	// wildcard; a listener in SendNS that RecvNS connects to.
	var (
		udpK     *net.UDPConn
		tcpK     net.Listener
		v6K      net.Listener
		dualK    net.Listener
		peer     net.Listener
		estab    net.Conn
		estabErr error
	)
	if err := lab.InSend(func() (err error) {
		peer, err = net.Listen("tcp4", netip.AddrPortFrom(lab.SendAddr, peerPort).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := peer.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	err := lab.InRecv(func() (err error) {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("2000"), 0); err != nil {
			return err
		}
		if udpK, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lab.RecvAddr, udpPort))); err != nil {
			return err
		}
		if tcpK, err = net.Listen("tcp4", netip.AddrPortFrom(netip.IPv4Unspecified(), tcpPort).String()); err != nil {
			return err
		}
		if v6K, err = net.Listen("tcp6", netip.AddrPortFrom(netip.IPv6Unspecified(), v6Port).String()); err != nil {
			return err
		}
		if dualK, err = net.Listen("tcp", netip.AddrPortFrom(netip.IPv6Unspecified(), dualPort).String()); err != nil {
			return err
		}
		d := net.Dialer{Timeout: 5 * time.Second}
		estab, estabErr = d.Dial("tcp4", netip.AddrPortFrom(lab.SendAddr, peerPort).String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer udpK.Close()
	defer tcpK.Close()
	defer v6K.Close()
	defer dualK.Close()
	if estabErr != nil {
		t.Fatal(estabErr)
	}
	defer estab.Close()
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("connection not accepted")
	}
	estabPort := netip.MustParseAddrPort(estab.LocalAddr().String()).Port()

	ifc := openLabInterface(t, lab, InterfaceConfig{})
	if got := ifc.LocalAddrs(); !slices.Contains(got, lab.RecvAddr) || !slices.Contains(got, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("local addresses %v: want %s and 127.0.0.1", got, lab.RecvAddr)
	}
	at := func(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
	any4 := netip.IPv4Unspecified()
	tests := []struct {
		name  string
		spec  pcb.Spec
		cred  *Cred
		errno error // nil: must bind
		msg   string
	}{
		{"udp wildcard over a kernel udp socket", pcb.Spec{Proto: pcb.UDP, Local: at(any4, udpPort)}, nil, syscall.EADDRINUSE, "UNCONN"},
		{"udp same address", pcb.Spec{Proto: pcb.UDP, Local: at(lab.RecvAddr, udpPort)}, nil, syscall.EADDRINUSE, "inode"},
		{"tcp on the udp socket's port", pcb.Spec{Proto: pcb.TCP, Local: at(lab.RecvAddr, udpPort)}, nil, nil, ""},
		{"tcp under a kernel wildcard listener", pcb.Spec{Proto: pcb.TCP, Local: at(lab.RecvAddr, tcpPort)}, nil, syscall.EADDRINUSE, "LISTEN 0.0.0.0"},
		{"tcp on an established connection's port", pcb.Spec{Proto: pcb.TCP, Local: at(any4, estabPort)}, nil, syscall.EADDRINUSE, "ESTAB"},
		{"udp on the connection's port", pcb.Spec{Proto: pcb.UDP, Local: at(any4, estabPort)}, nil, nil, ""},
		{"tcp v4 beside a v6-only [::] listener", pcb.Spec{Proto: pcb.TCP, Local: at(any4, v6Port)}, nil, nil, ""},
		{"tcp v6 under a v6-only [::] listener", pcb.Spec{Proto: pcb.TCP, Local: at(netip.IPv6Unspecified(), v6Port)}, nil, syscall.EADDRINUSE, "LISTEN [::]"},
		{"tcp v4 under a dual-stack [::] listener", pcb.Spec{Proto: pcb.TCP, Local: at(lab.RecvAddr, dualPort)}, nil, syscall.EADDRINUSE, "LISTEN [::]"},
		{"non-local address", pcb.Spec{Proto: pcb.UDP, Local: at(netip.MustParseAddr("198.19.99.99"), 6010)}, nil, syscall.EADDRNOTAVAIL, "not a local address"},
		{"below the namespace's port start", pcb.Spec{Proto: pcb.UDP, Local: at(any4, 1500)}, &Cred{UID: 65534}, syscall.EACCES, "ip_unprivileged_port_start 2000"},
		{"above the namespace's port start", pcb.Spec{Proto: pcb.UDP, Local: at(any4, 2000)}, &Cred{UID: 65534}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Owner = testOwner
			ep, err := ifc.Bind(tt.spec, EndpointOptions{Cred: tt.cred})
			if tt.errno == nil {
				if err != nil {
					t.Fatalf("bind %s: %v", tt.spec, err)
				}
				ep.Close()
				return
			}
			t.Log(err)
			if !errors.Is(err, tt.errno) || !strings.Contains(fmtErr(err), tt.msg) {
				t.Fatalf("bind %s: got %v, want %v naming %q", tt.spec, err, tt.errno, tt.msg)
			}
			if tt.errno == syscall.EADDRINUSE && !errors.Is(err, pcb.ErrAddrInUse) {
				t.Errorf("bind %s: %v is not pcb.ErrAddrInUse", tt.spec, err)
			}
		})
	}
	if got := ifc.Claims(); len(got) != 0 {
		t.Errorf("claims left: %v", got)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestInterfaceAddressFollow adds an address to the receive interface while
// a wildcard endpoint is bound: the dataplane learns it (claims it, lets a
// specific bind name it, delivers its traffic) and forgets it when it goes.
func TestInterfaceAddressFollow(t *testing.T) {
	lab := labtest.NewLab(t, netlab.Config{Queues: 1, Prefix: bindLabPrefix})
	const port = 6020
	ifc := openLabInterface(t, lab, InterfaceConfig{})
	wild, err := ifc.Bind(pcb.Spec{Proto: pcb.UDP, Local: netip.AddrPortFrom(netip.IPv4Unspecified(), port), Owner: testOwner}, EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claimOf := func(a netip.Addr) string { return claimKey{pcb.UDP, a, port}.String() }
	if got, want := claimStrings(ifc.Claims()), []string{claimOf(lab.RecvAddr)}; !slices.Equal(got, want) {
		t.Errorf("claims %q, want %q (loopback skipped)", got, want)
	}
	b := lab.RecvAddr.As4()
	b[3] = 77
	extra := netip.AddrFrom4(b)
	specExtra := pcb.Spec{Proto: pcb.UDP, Local: netip.AddrPortFrom(extra, port+1), Owner: testOwner}
	if _, err := ifc.Bind(specExtra, EndpointOptions{}); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("bind %s before the address exists: %v, want EADDRNOTAVAIL", specExtra, err)
	}

	addr := &netlink.Addr{IPNet: &net.IPNet{IP: extra.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	changeAddr := func(add bool) {
		t.Helper()
		if err := lab.InRecv(func() error {
			link, err := netlink.LinkByName(lab.RecvIf)
			if err != nil {
				return err
			}
			if add {
				return netlink.AddrAdd(link, addr)
			}
			return netlink.AddrDel(link, addr)
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitClaims := func(want []string) {
		t.Helper()
		slices.Sort(want)
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := claimStrings(ifc.Claims())
			slices.Sort(got)
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("claims %q, want %q", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	changeAddr(true)
	waitClaims([]string{claimOf(lab.RecvAddr), claimOf(extra)})
	ep, err := ifc.Bind(specExtra, EndpointOptions{})
	if err != nil {
		t.Fatalf("bind %s after the address came: %v", specExtra, err)
	}
	ep.Close()

	// Traffic to the new address reaches the wildcard endpoint.
	const n = 20
	if err := netlab.SendUDP(lab, netip.AddrPortFrom(extra, port), nil, func(i int) []byte { return []byte("hello") }, n); err != nil {
		t.Fatal(err)
	}
	got := 0
	batch := make([]Frame, rxq.BatchSize)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for got < n {
		k, err := wild.Receive(ctx, batch)
		if err != nil {
			t.Fatalf("received %d of %d datagrams to %s: %v", got, n, extra, err)
		}
		for i := range batch[:k] {
			if batch[i].Dst.Addr() != extra {
				t.Errorf("datagram to %s, want %s", batch[i].Dst, extra)
			}
		}
		got += k
		wild.Release(batch[:k])
	}

	changeAddr(false)
	waitClaims([]string{claimOf(lab.RecvAddr)})
	if _, err := ifc.Bind(specExtra, EndpointOptions{}); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("bind %s after the address went: %v, want EADDRNOTAVAIL", specExtra, err)
	}
	if err := ifc.view.err(); err != nil {
		t.Errorf("address watcher: %v", err)
	}
}

// TestInterfaceCloseStopsWatcher: the address subscription and its
// watcher end with Close.
func TestInterfaceCloseStopsWatcher(t *testing.T) {
	lab := labtest.NewLab(t, netlab.Config{Queues: 1, Prefix: bindLabPrefix})
	before := runtime.NumGoroutine()
	var ifc *Interface
	if err := lab.InRecv(func() (err error) {
		ifc, err = OpenInterface(InterfaceConfig{Ifname: lab.RecvIf})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n <= before+2 {
		t.Errorf("%d goroutines open, %d before: want workers and the watcher", n, before)
	}
	if err := ifc.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after close, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := ifc.SetLocalAddrs(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("SetLocalAddrs after close: %v", err)
	}
}
