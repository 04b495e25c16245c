//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package xdpprog

import (
	"net"
	"net/netip"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// The kernel socket lookup, through BPF_PROG_TEST_RUN inside a lab's receive
// namespace: a test run of an XDP program uses the loopback device of the
// calling thread's namespace, so bpf_sk_lookup_* searches that namespace.

// kernelLab loads the program (drop-claimed mode, testMAC) with UDP and
// TCP claims on the lab's receive address.
func kernelLab(t *testing.T, udpPort, tcpPort uint16) (*netlab.Lab, *Program) {
	t.Helper()
	p := loadForTest(t)
	l := labtest.NewLab(t, netlab.Config{Queues: 1})
	if err := p.Claim(ProtoUDP, l.RecvAddr, udpPort); err != nil {
		t.Fatal(err)
	}
	if err := p.Claim(ProtoTCP, l.RecvAddr, tcpPort); err != nil {
		t.Fatal(err)
	}
	return l, p
}

// runIn runs frame through the program inside the lab's receive namespace.
func runIn(t *testing.T, l *netlab.Lab, p *Program, frame []byte) uint32 {
	t.Helper()
	var ret uint32
	if err := l.InRecv(func() error { ret = run(t, p, frame); return nil }); err != nil {
		t.Fatal(err)
	}
	return ret
}

func queue0(t *testing.T, p *Program) QueueCounters {
	t.Helper()
	for _, c := range counters(t, p) {
		if c.Queue == 0 {
			return c
		}
	}
	return QueueCounters{}
}

func TestKernelUDPSocket(t *testing.T) {
	const port = 5300
	l, p := kernelLab(t, port, port)
	udp := func(sport uint16) []byte {
		return newFrame(0x0800).from(l.SendAddr).to(l.RecvAddr).ipv4(17, 5, 0).l4(sport, port, 16).done()
	}
	if got := runIn(t, l, p, udp(1234)); got != xdpDrop {
		t.Fatalf("claimed, no kernel socket: %d, want XDP_DROP", got)
	}
	for _, bind := range []netip.Addr{l.RecvAddr, netip.IPv4Unspecified()} {
		var c *net.UDPConn
		if err := l.InRecv(func() (err error) {
			c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, port)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		before := queue0(t, p)
		if got := runIn(t, l, p, udp(1234)); got != xdpPass {
			t.Errorf("kernel socket on %s:%d: %d, want XDP_PASS", bind, port, got)
		}
		if got := runIn(t, l, p, udp(4321)); got != xdpPass {
			t.Errorf("kernel socket on %s:%d, other source port: %d, want XDP_PASS", bind, port, got)
		}
		after := queue0(t, p)
		if d := after.KernelOwned - before.KernelOwned; d != 2 {
			t.Errorf("kernel socket on %s:%d: KernelOwned grew by %d, want 2", bind, port, d)
		}
		if d := after.Passed - before.Passed; d != 2 {
			t.Errorf("kernel socket on %s:%d: Passed grew by %d, want 2", bind, port, d)
		}
		// Outside the namespace the socket is not found.
		if got := run(t, p, udp(1234)); got != xdpDrop {
			t.Errorf("kernel socket in the lab, test run outside it: %d, want XDP_DROP", got)
		}
		// The TCP claim on the same port is not a UDP socket's.
		tcp := newFrame(0x0800).from(l.SendAddr).to(l.RecvAddr).ipv4(6, 5, 0).l4(1234, port, 20).done()
		if got := runIn(t, l, p, tcp); got != xdpDrop {
			t.Errorf("kernel UDP socket on %d, TCP frame: %d, want XDP_DROP", port, got)
		}
		c.Close()
		if got := runIn(t, l, p, udp(1234)); got != xdpDrop {
			t.Errorf("kernel socket on %s:%d closed: %d, want XDP_DROP", bind, port, got)
		}
	}
}

// TestKernelIPv6Sockets: IPv6 wildcard sockets own IPv6 tuples to their
// port (the lab has IPv6 off on its interfaces, but a socket can still be
// bound to [::]).
func TestKernelIPv6Sockets(t *testing.T) {
	const port = 5301
	l, p := kernelLab(t, port, port)
	if err := p.Claim(ProtoUDP, testDst6, port); err != nil {
		t.Fatal(err)
	}
	frame := newFrame(0x86dd).ipv6(17).l4(1234, port, 16).done()
	if got := runIn(t, l, p, frame); got != xdpDrop {
		t.Fatalf("claimed, no kernel socket: %d, want XDP_DROP", got)
	}
	var c *net.UDPConn
	if err := l.InRecv(func() (err error) {
		c, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := queue0(t, p)
	if got := runIn(t, l, p, frame); got != xdpPass {
		t.Errorf("kernel socket on [::]:%d: %d, want XDP_PASS", port, got)
	}
	if d := queue0(t, p).KernelOwned - before.KernelOwned; d != 1 {
		t.Errorf("kernel socket on [::]:%d: KernelOwned grew by %d, want 1", port, d)
	}

	// And a TCP listener on [::] owns IPv6 TCP tuples to its port.
	if err := p.Claim(ProtoTCP, testDst6, port); err != nil {
		t.Fatal(err)
	}
	syn := newFrame(0x86dd).ipv6(6).l4(1234, port, 20).done()
	if got := runIn(t, l, p, syn); got != xdpDrop {
		t.Fatalf("tcp6 claimed, no listener: %d, want XDP_DROP", got)
	}
	var ln *net.TCPListener
	if err := l.InRecv(func() (err error) {
		ln, err = net.ListenTCP("tcp6", &net.TCPAddr{IP: net.IPv6unspecified, Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := runIn(t, l, p, syn); got != xdpPass {
		t.Errorf("listener on [::]:%d: %d, want XDP_PASS", port, got)
	}
}

func TestKernelTCPSocket(t *testing.T) {
	const port = 4430
	l, p := kernelLab(t, port, port)
	tcp := func(src netip.AddrPort) []byte {
		return newFrame(0x0800).from(src.Addr()).to(l.RecvAddr).ipv4(6, 5, 0).l4(src.Port(), port, 20).done()
	}
	stranger := netip.AddrPortFrom(l.SendAddr, 40999)
	if got := runIn(t, l, p, tcp(stranger)); got != xdpDrop {
		t.Fatalf("claimed, no kernel socket: %d, want XDP_DROP", got)
	}

	// A listener owns every tuple to its port.
	var ln *net.TCPListener
	if err := l.InRecv(func() (err error) {
		ln, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.RecvAddr, port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := runIn(t, l, p, tcp(stranger)); got != xdpPass {
		t.Errorf("kernel listener: %d, want XDP_PASS", got)
	}

	// An established connection keeps its tuple after the listener is
	// gone; other tuples are claimed again.
	var client *net.TCPConn
	if err := l.InSend(func() (err error) {
		client, err = net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.RecvAddr, port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	ln.Close()
	if got := runIn(t, l, p, tcp(stranger)); got != xdpDrop {
		t.Errorf("listener closed, unknown tuple: %d, want XDP_DROP", got)
	}
	before := queue0(t, p)
	conn := client.LocalAddr().(*net.TCPAddr).AddrPort()
	if got := runIn(t, l, p, tcp(conn)); got != xdpPass {
		t.Errorf("established connection %s: %d, want XDP_PASS", conn, got)
	}
	if d := queue0(t, p).KernelOwned - before.KernelOwned; d != 1 {
		t.Errorf("established connection: KernelOwned grew by %d, want 1", d)
	}

	// The receiving side closes first, so it ends in TIME_WAIT: the tuple
	// stays the kernel's.
	server.Close()
	buf := make([]byte, 1)
	if _, err := client.Read(buf); err == nil {
		t.Error("client read data, want EOF")
	}
	client.Close()
	if got := runIn(t, l, p, tcp(conn)); got != xdpPass {
		t.Errorf("closed connection %s (FIN_WAIT/TIME_WAIT): %d, want XDP_PASS", conn, got)
	}
}
