package dataplane

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// fakeKernel is a KernelSockets with a fixed list.
type fakeKernel struct {
	socks []KernelSocket
	err   error
	asked int
}

func (f *fakeKernel) Sockets(proto pcb.Proto, port uint16) ([]KernelSocket, error) {
	f.asked++
	var out []KernelSocket
	for _, s := range f.socks {
		if s.Proto == proto && s.Local.Port() == port {
			out = append(out, s)
		}
	}
	return out, f.err
}

func ksock(proto pcb.Proto, local string, v6only bool) KernelSocket {
	ap := netip.MustParseAddrPort(local)
	return KernelSocket{Proto: proto, Local: ap, IPv6: ap.Addr().Is6(), V6Only: v6only, State: "LISTEN", UID: 1000, Inode: 4242}
}

func TestKernelOverlap(t *testing.T) {
	dual := func(s string) pcb.Spec {
		sp := udpSpec(s, false)
		sp.DualStack = true
		return sp
	}
	tests := []struct {
		name string
		k    KernelSocket
		spec pcb.Spec
		want bool
	}{
		{"same address", ksock(pcb.UDP, "198.18.0.1:53", false), udpSpec("198.18.0.1:53", false), true},
		{"other address", ksock(pcb.UDP, "198.18.0.1:53", false), udpSpec("198.18.0.2:53", false), false},
		{"other port", ksock(pcb.UDP, "198.18.0.1:53", false), udpSpec("198.18.0.1:54", false), false},
		{"other protocol", ksock(pcb.TCP, "198.18.0.1:53", false), udpSpec("198.18.0.1:53", false), false},
		{"kernel wildcard", ksock(pcb.UDP, "0.0.0.0:53", false), udpSpec("198.18.0.1:53", false), true},
		{"bind wildcard", ksock(pcb.UDP, "198.18.0.1:53", false), udpSpec("0.0.0.0:53", false), true},
		{"v4 kernel, v6 bind", ksock(pcb.UDP, "0.0.0.0:53", false), udpSpec("[::]:53", false), false},
		{"v4 kernel, dual-stack bind", ksock(pcb.UDP, "198.18.0.1:53", false), dual("[::]:53"), true},
		{"kernel [::] covers v4", ksock(pcb.UDP, "[::]:53", false), udpSpec("198.18.0.1:53", false), true},
		{"kernel [::] v6-only", ksock(pcb.UDP, "[::]:53", true), udpSpec("198.18.0.1:53", false), false},
		{"kernel [::] v6-only, v6 bind", ksock(pcb.UDP, "[::]:53", true), udpSpec("[2001:2::1]:53", false), true},
		{"kernel v6 address, v4 wildcard", ksock(pcb.UDP, "[2001:2::1]:53", false), udpSpec("0.0.0.0:53", false), false},
		{"kernel v4-mapped (dual-stack connection)", ksock(pcb.TCP, "[::ffff:198.18.0.1]:40000", false), tcpSpec("0.0.0.0:40000", false), true},
		{"kernel v4-mapped, v6 bind", ksock(pcb.TCP, "[::ffff:198.18.0.1]:40000", false), tcpSpec("[::]:40000", false), false},
		{"bind v4-mapped", ksock(pcb.UDP, "198.18.0.1:53", false), dual("[::ffff:198.18.0.1]:53"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := overlaps(tt.spec, tt.k); got != tt.want {
				t.Errorf("overlaps(%s, %s) = %v, want %v", tt.spec, tt.k, got, tt.want)
			}
		})
	}
}

func TestBindKernelSocket(t *testing.T) {
	est := ksock(pcb.TCP, "198.18.0.1:45678", false)
	est.Remote, est.State, est.UID = netip.MustParseAddrPort("198.19.0.5:443"), "ESTAB", 1001
	k := &fakeKernel{socks: []KernelSocket{
		ksock(pcb.UDP, "198.18.0.1:53", false),
		ksock(pcb.TCP, "0.0.0.0:22", false),
		est,
	}}
	c := &fakeClaimer{}
	l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{Claimer: c, LocalAddrs: testLocal, KernelSockets: k})
	tests := []struct {
		spec pcb.Spec
		msg  string // "" = must bind
	}{
		{udpSpec("0.0.0.0:53", false), "udp LISTEN 198.18.0.1:53 uid 1000 inode 4242"},
		{udpSpec("198.18.0.1:53", true), "198.18.0.1:53"},
		{udpSpec("198.18.0.2:53", false), ""},
		{tcpSpec("198.18.0.2:22", false), "tcp LISTEN 0.0.0.0:22"},
		{tcpSpec("0.0.0.0:45678", false), "ESTAB 198.18.0.1:45678->198.19.0.5:443 uid 1001"},
		{tcpSpec("[::]:45678", false), ""},
		{tcpSpec("0.0.0.0:53", false), ""},
	}
	for _, tt := range tests {
		_, err := l.d.Bind(tt.spec, EndpointOptions{})
		if tt.msg == "" {
			if err != nil {
				t.Errorf("bind %s: %v", tt.spec, err)
			}
			continue
		}
		if !errors.Is(err, pcb.ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("bind %s: got %v, want ErrAddrInUse and EADDRINUSE", tt.spec, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), tt.spec.String()) {
			t.Errorf("bind %s: error %q does not name the spec and %q", tt.spec, err, tt.msg)
		}
	}
	// Only the accepted binds claimed anything.
	want := []string{"tcp/198.18.0.1:53", "tcp/198.18.0.2:53", "tcp/[2001:2::1]:45678", "udp/198.18.0.2:53"}
	if got := claimStrings(l.d.Claims()); !slices.Equal(got, want) {
		t.Errorf("claims %q, want %q", got, want)
	}
	if got := c.takeLog(); len(got) != len(want) {
		t.Errorf("claimer log %q: want %d claims", got, len(want))
	}

	// A failing sock_diag fails the bind: better refuse than steal.
	k.err = errors.New("netlink gone")
	if _, err := l.d.Bind(udpSpec("0.0.0.0:7777", false), EndpointOptions{}); err == nil || !strings.Contains(err.Error(), "netlink gone") {
		t.Errorf("bind with failing KernelSockets: %v", err)
	}
}

// TestBindCheckOrder: the checks run in the kernel's order (address, then
// permission, then in use) and a refused bind asks no further.
func TestBindCheckOrder(t *testing.T) {
	k := &fakeKernel{socks: []KernelSocket{ksock(pcb.UDP, "0.0.0.0:53", false)}}
	l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{LocalAddrs: testLocal, KernelSockets: k, Access: AccessPolicy{UnprivilegedPortStart: DefaultUnprivilegedPortStart}})
	nobody := &Cred{UID: 65534}
	if _, err := l.d.Bind(udpSpec("198.18.0.9:53", false), EndpointOptions{Cred: nobody}); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("non-local, privileged, in use: got %v, want EADDRNOTAVAIL", err)
	}
	if _, err := l.d.Bind(udpSpec("198.18.0.1:53", false), EndpointOptions{Cred: nobody}); !errors.Is(err, syscall.EACCES) {
		t.Errorf("privileged, in use: got %v, want EACCES", err)
	}
	if k.asked != 0 {
		t.Errorf("kernel sockets asked %d times for refused binds", k.asked)
	}
	if _, err := l.d.Bind(udpSpec("198.18.0.1:53", false), EndpointOptions{Cred: &Cred{UID: 0}}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("in use: got %v, want EADDRINUSE", err)
	}
}
