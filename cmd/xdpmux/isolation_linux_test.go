package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
)

// The isolation tests (docs/SECURITY.md) play the attacks of issue 12 against
// a real `xdpmux run` on a veth lab, as the users who would make them: the
// attackers and the legitimate users are child processes of this test binary
// running under real uids (65534 and 1000) through the control socket.

const (
	uidNobody = 65534
	uidUser   = 1000
	// quiet is how long a reading child waits for more frames after its
	// stdin closed.
	quiet = 500 * time.Millisecond
)

// TestIsolationChild is the child process of the isolation tests. With
// XDPMUX_ISO_CHILD set it does one job and exits:
//
//	bind|PATH|SPEC|REUSE|read   bind SPEC, print "bound NAME" (or "error CODE
//	                            MESSAGE"), count frames until stdin closes
//	                            and then none came for quiet, print "got N"
//	bind|PATH|SPEC|REUSE|hoard  bind SPEC, never read, wait for stdin to close
//	flood|PATH|N                open N idle control connections, print
//	                            "open K refused R limit L", wait for stdin
func TestIsolationChild(t *testing.T) {
	arg := os.Getenv("XDPMUX_ISO_CHILD")
	if arg == "" {
		return
	}
	f := strings.Split(arg, "|")
	switch f[0] {
	case "bind":
		ep, err := ctl.Listen(f[1], f[2], ctl.Options{ReusePort: f[3] == "1"})
		if err != nil {
			code := 0
			var re *ctl.RemoteError
			if errors.As(err, &re) {
				code = int(re.Code)
			}
			fmt.Printf("error %d %v\n", code, err)
			os.Exit(0)
		}
		fmt.Printf("bound %s\n", ep.Name())
		if f[4] == "hoard" {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}
		// Read until stdin closes, then drain: what xdpmux delivered may
		// still be on its way through the control socket (a loaded
		// machine), so stop only after a quiet read deadline.
		got := make(chan int, 1)
		var draining atomic.Bool
		go func() {
			n := 0
			batch := make([]ctl.Message, 64)
			for {
				k, err := ep.ReadBatch(batch)
				n += k
				if err != nil { // closed, or quiet while draining
					got <- n
					return
				}
				if draining.Load() {
					ep.SetReadDeadline(time.Now().Add(quiet))
				}
			}
		}()
		io.Copy(io.Discard, os.Stdin)
		draining.Store(true)
		ep.SetReadDeadline(time.Now().Add(quiet))
		n := <-got
		ep.Close()
		fmt.Printf("got %d\n", n)
		os.Exit(0)
	case "flood":
		n, _ := strconv.Atoi(f[2])
		var conns []*net.UnixConn
		for range n {
			c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: f[1], Net: "unixpacket"})
			if err != nil {
				break
			}
			conns = append(conns, c)
		}
		time.Sleep(time.Second)
		open, refused, limit := 0, 0, 0
		buf := make([]byte, 256)
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
			k, err := c.Read(buf)
			switch {
			case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
				open++
			case k >= 5 && buf[3] == 132: // an Error message
				refused++
				if buf[4] == ctl.CodeLimit {
					limit++
				}
			default:
				refused++
			}
		}
		fmt.Printf("open %d refused %d limit %d\n", open, refused, limit)
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	t.Fatalf("unknown child job %q", arg)
}

// isoChild is a running child.
type isoChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func (c *isoChild) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatal("child ended without a line")
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("child said nothing for 30 s")
	}
	return ""
}

// stop closes the child's stdin and returns its last line.
func (c *isoChild) stop(t *testing.T) string {
	t.Helper()
	c.stdin.Close()
	return c.next(t)
}

// isoEnv is an `xdpmux run` on a lab and a directory any user can reach
// holding its control socket and a copy of this test binary.
type isoEnv struct {
	lab    *netlab.Lab
	exe    string
	sock   string
	stderr *lockedBuffer
}

func (e *isoEnv) start(t *testing.T, uid uint32, job string) *isoChild {
	t.Helper()
	cmd := exec.Command(e.exe, "-test.run=^TestIsolationChild$")
	cmd.Env = append(os.Environ(), "XDPMUX_ISO_CHILD="+job)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &isoChild{cmd: cmd, stdin: stdin, lines: make(chan string, 4)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	go func() {
		defer close(c.lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			c.lines <- strings.TrimSpace(s.Text())
		}
	}()
	return c
}

// bindAs runs a child of uid binding spec and returns it with its first line.
func (e *isoEnv) bindAs(t *testing.T, uid uint32, spec string, reuse bool, mode string) (*isoChild, string) {
	t.Helper()
	r := "0"
	if reuse {
		r = "1"
	}
	c := e.start(t, uid, strings.Join([]string{"bind", e.sock, spec, r, mode}, "|"))
	return c, c.next(t)
}

func wantLine(t *testing.T, what, line, prefix string) {
	t.Helper()
	if !strings.HasPrefix(line, prefix) {
		t.Errorf("%s: %q, want %q...", what, line, prefix)
	} else {
		t.Logf("%s: %s", what, line)
	}
}

func codeLine(code byte) string { return fmt.Sprintf("error %d ", code) }

func newIsoEnv(t *testing.T, prefix string, runArgs ...string) *isoEnv {
	t.Helper()
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: prefix})
	dir := labtest.SharedDir(t)
	e := &isoEnv{lab: lab, exe: labtest.ExecutableIn(t, dir, "xdpmux.test"), sock: filepath.Join(dir, "run", "xdpmux.sock"),
		stderr: new(lockedBuffer)}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan runReady, 1)
	done := make(chan int, 1)
	args := append([]string{"-iface", lab.RecvIf, "-ctl", e.sock}, runArgs...)
	go func() {
		code := -1
		if err := lab.InRecv(func() error {
			code = runMain(ctx, args, io.Discard, e.stderr, func(r runReady) { ready <- r })
			return nil
		}); err != nil {
			t.Error(err)
		}
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("run exited %d: %s", code, e.stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not stop within 30 s")
		}
	})
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("run ended early with %d: %s", code, e.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("run not ready: %s", e.stderr.String())
	}
	return e
}

// udpEcho serves a kernel UDP echo socket at addr in the namespace until the
// test ends.
func udpEcho(t *testing.T, ns string, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := netlab.InNamespace(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		return err
	}); err != nil {
		t.Fatalf("kernel udp server %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return c
}

// queries sends n datagrams from the lab's sending namespace to dst, one at
// a time, and counts the echoes that come back within 500 ms each.
func queries(t *testing.T, lab *netlab.Lab, dst netip.AddrPort, n int) int {
	t.Helper()
	var c *net.UDPConn
	if err := lab.InSend(func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lab.SendAddr, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answers := 0
	buf := make([]byte, 2048)
	for i := range n {
		q := fmt.Appendf(nil, "query %d", i)
		if _, err := c.WriteToUDPAddrPort(q, dst); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if k, _, err := c.ReadFromUDPAddrPort(buf); err == nil && string(buf[:k]) == string(q) {
			answers++
		}
	}
	return answers
}

// tcpListen serves a kernel TCP listener in the namespace that writes "hello"
// to every connection and then echoes.
func tcpListen(t *testing.T, ns string, addr netip.AddrPort) net.Listener {
	t.Helper()
	var l net.Listener
	if err := netlab.InNamespace(ns, func() (err error) {
		l, err = net.Listen("tcp4", addr.String())
		return err
	}); err != nil {
		t.Fatalf("kernel tcp listener %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("hello"))
				io.Copy(c, c)
			}()
		}
	}()
	return l
}

// tcpDial connects from namespace ns (from local, if valid) to dst and
// reads the greeting.
func tcpDial(t *testing.T, ns string, local, dst netip.AddrPort) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	err := netlab.InNamespace(ns, func() (err error) {
		d := net.Dialer{Timeout: 2 * time.Second}
		if local.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(local)
		}
		c, err = d.Dial("tcp4", dst.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", buf, err)
	}
	return c, nil
}

// roundTrip writes a line on c and expects it back.
func roundTrip(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}

func endpointDelivered(t *testing.T, sock, prefix string) uint64 {
	t.Helper()
	snap, err := ctl.Stats(sock)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, e := range snap.Endpoints {
		if strings.HasPrefix(e.Name, prefix) {
			n += e.Delivered
		}
	}
	return n
}

// TestIsolationPorts: privileged ports, ports a kernel socket holds, and
// established connections (issue 12, attacks 1 and 2), and the legitimate
// binds next to them.
func TestIsolationPorts(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_SETUID, CAP_SETGID: runs children as other users")
	e := newIsoEnv(t, "xip", "-allow", "uid=1000,ports=5000-5999", "-allow", "uid=65534,ports=1024-65535")
	lab := e.lab
	dns := udpEcho(t, lab.RecvNS, netip.AddrPortFrom(netip.IPv4Unspecified(), 53))
	tcpListen(t, lab.RecvNS, netip.AddrPortFrom(netip.IPv4Unspecified(), 22))
	// A victim's established kernel connection from the receiving side,
	// with an ephemeral local port.
	tcpListen(t, lab.SendNS, netip.AddrPortFrom(lab.SendAddr, 9100))
	victim, err := tcpDial(t, lab.RecvNS, netip.AddrPort{}, netip.AddrPortFrom(lab.SendAddr, 9100))
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	ephemeral := netip.MustParseAddrPort(victim.LocalAddr().String()).Port()

	for _, tc := range []struct {
		what string
		uid  uint32
		spec string
		want string
	}{
		{"nobody binds the kernel DNS port", uidNobody, "udp/0.0.0.0:53", codeLine(ctl.CodePermission)},
		{"nobody binds ssh", uidNobody, "tcp/0.0.0.0:22", codeLine(ctl.CodePermission)},
		{"nobody binds a victim's ephemeral port", uidNobody, fmt.Sprintf("tcp/0.0.0.0:%d", ephemeral), codeLine(ctl.CodeAddrInUse)},
		{"nobody binds it on the address", uidNobody, fmt.Sprintf("tcp/%s:%d", lab.RecvAddr, ephemeral), codeLine(ctl.CodeAddrInUse)},
		{"user binds outside its rule", uidUser, "udp/0.0.0.0:6000", codeLine(ctl.CodePermission)},
		{"user binds inside its rule", uidUser, "udp/0.0.0.0:5000", "bound "},
	} {
		c, line := e.bindAs(t, tc.uid, tc.spec, false, "read")
		wantLine(t, tc.what, line, tc.want)
		if strings.HasPrefix(line, "bound ") {
			c.stop(t)
		}
	}
	// uid 1000 forms a group with itself in its range.
	var members []*isoChild
	for i := range 2 {
		c, line := e.bindAs(t, uidUser, "udp/0.0.0.0:5999", true, "read")
		wantLine(t, fmt.Sprintf("user's member %d of udp/0.0.0.0:5999", i), line, "bound ")
		members = append(members, c)
	}
	if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, 5999), []uint16{41000, 41001, 41002, 41003, 41004, 41005, 41006, 41007}, nil, 400); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return endpointDelivered(t, e.sock, "udp/0.0.0.0:5999") == 400 })
	total := 0
	for i, c := range members {
		var n int
		fmt.Sscanf(c.stop(t), "got %d", &n)
		t.Logf("member %d got %d", i, n)
		if n == 0 {
			t.Errorf("member %d of the user's group got nothing", i)
		}
		total += n
	}
	if total != 400 {
		t.Errorf("the user's group got %d of 400", total)
	}

	// Root may bind what no kernel socket holds, but not the kernel DNS port.
	if _, err := ctl.Listen(e.sock, "udp/0.0.0.0:53", ctl.Options{}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("root binding the kernel DNS port: %v, want EADDRINUSE", err)
	}
	if got := queries(t, lab, netip.AddrPortFrom(lab.RecvAddr, 53), 5); got != 5 {
		t.Errorf("kernel DNS answered %d of 5 while xdpmux runs", got)
	}
	if c, err := tcpDial(t, lab.SendNS, netip.AddrPort{}, netip.AddrPortFrom(lab.RecvAddr, 22)); err != nil {
		t.Errorf("kernel ssh listener: %v", err)
	} else {
		c.Close()
	}
	if err := roundTrip(victim, "still mine"); err != nil {
		t.Errorf("victim connection: %v", err)
	}
	dns.Close()
	root53, err := ctl.Listen(e.sock, "udp/0.0.0.0:53", ctl.Options{})
	if err != nil {
		t.Fatalf("root binding :53 once the kernel socket is gone: %v", err)
	}
	defer root53.Close()

	// A connection the kernel opens after xdpmux took its port is still the
	// kernel's: the program finds the kernel socket and passes its frames.
	const taken = 5555
	rootEp, err := ctl.Listen(e.sock, fmt.Sprintf("tcp/0.0.0.0:%d", taken), ctl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rootEp.Close()
	late, err := tcpDial(t, lab.RecvNS, netip.AddrPortFrom(lab.RecvAddr, taken), netip.AddrPortFrom(lab.SendAddr, 9100))
	if err != nil {
		t.Fatalf("kernel connection from port %d after xdpmux bound it: %v", taken, err)
	}
	defer late.Close()
	for i := range 3 {
		if err := roundTrip(late, fmt.Sprintf("late %d", i)); err != nil {
			t.Errorf("kernel connection on xdpmux's port: %v", err)
		}
	}
	if n := endpointDelivered(t, e.sock, fmt.Sprintf("tcp/0.0.0.0:%d", taken)); n != 0 {
		t.Errorf("xdpmux's endpoint got %d frames of the kernel's connection", n)
	}
}

// TestIsolationAddresses: non-local addresses and frames for other MACs and
// namespaces behind the interface (issue 12, attack 3).
func TestIsolationAddresses(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN: macvlan in a namespace")
	e := newIsoEnv(t, "xia")
	lab := e.lab
	for _, spec := range []string{"udp/198.19.255.254:5353", "tcp/198.18.255.254:8080"} {
		if _, err := ctl.Listen(e.sock, spec, ctl.Options{}); !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("root binding non-local %s: %v, want EADDRNOTAVAIL", spec, err)
		}
	}
	// A macvlan child of the lab's interface, in a namespace of its own,
	// with a kernel server on the port xdpmux serves on the parent.
	childNS := lab.RecvNS + "-m"
	childIf := "mv" + strings.TrimPrefix(lab.RecvIf, "xia")
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if err := netlab.NewNamespace(childNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netlab.DeleteNamespace(childNS); err != nil {
			t.Errorf("delete namespace %s: %v", childNS, err)
		}
	})
	childAddr := lab.RecvAddr.Next() // .3 of the lab's /24
	ip("-n", lab.RecvNS, "link", "add", childIf, "link", lab.RecvIf, "type", "macvlan", "mode", "bridge")
	ip("-n", lab.RecvNS, "link", "set", childIf, "netns", childNS)
	ip("-n", childNS, "addr", "add", childAddr.String()+"/24", "dev", childIf)
	ip("-n", childNS, "link", "set", childIf, "up")
	ip("-n", childNS, "link", "set", "lo", "up")
	udpEcho(t, childNS, netip.AddrPortFrom(netip.IPv4Unspecified(), 5300))

	ep, err := ctl.Listen(e.sock, "udp/0.0.0.0:5300", ctl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if _, err := ctl.Listen(e.sock, fmt.Sprintf("udp/%s:5301", childAddr), ctl.Options{}); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("binding the macvlan child's address: %v, want EADDRNOTAVAIL", err)
	}
	if got := queries(t, lab, netip.AddrPortFrom(childAddr, 5300), 5); got != 5 {
		t.Errorf("the macvlan child's kernel server answered %d of 5", got)
	}
	if n := endpointDelivered(t, e.sock, "udp/0.0.0.0:5300"); n != 0 {
		t.Errorf("xdpmux's wildcard endpoint got %d frames meant for the macvlan child", n)
	}
	// The parent's own address still reaches the endpoint.
	if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, 5300), nil, nil, 10); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return endpointDelivered(t, e.sock, "udp/0.0.0.0:5300") == 10 })
	snap, err := ctl.Stats(e.sock)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Totals.Unmatched != 0 {
		t.Errorf("%d frames unmatched: the program claimed frames no endpoint wants", snap.Totals.Unmatched)
	}
}

// TestIsolationStarvation: endpoints that never read cannot take another
// user's frames (issue 12, attack 4).
func TestIsolationStarvation(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_SETUID, CAP_SETGID: runs children as other users")
	e := newIsoEnv(t, "xis")
	lab := e.lab
	var hoarders []*isoChild
	for i := range 4 {
		c, line := e.bindAs(t, uidNobody, fmt.Sprintf("udp/0.0.0.0:%d", 6001+i), false, "hoard")
		wantLine(t, fmt.Sprintf("hoarder %d", i), line, "bound ")
		hoarders = append(hoarders, c)
	}
	reader, line := e.bindAs(t, uidUser, "udp/0.0.0.0:5001", false, "read")
	wantLine(t, "reader", line, "bound ")
	src := []uint16{42000, 42001, 42002, 42003, 42004, 42005, 42006, 42007}
	for i := range 4 {
		if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, uint16(6001+i)), src, nil, 5000); err != nil {
			t.Fatal(err)
		}
	}
	// The hoarders' floods are in: every frame of them the socket took is
	// delivered or dropped (on them) before the reader's burst, so the
	// burst meets whatever the hoarders managed to keep. (An unpaced flood
	// may also overflow the AF_XDP rx ring: those never reach a worker.)
	last := ^uint64(0)
	waitFor(t, 10*time.Second, func() bool {
		snap, err := ctl.Stats(e.sock)
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, ep := range snap.Endpoints {
			if strings.HasPrefix(ep.Name, "udp/0.0.0.0:600") {
				n += ep.Delivered + ep.Dropped
			}
		}
		settled := n == last && n > 0
		last = n
		time.Sleep(200 * time.Millisecond)
		return settled
	})
	const burst = 2000
	if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, 5001), src, nil, burst); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return endpointDelivered(t, e.sock, "udp/0.0.0.0:5001") == burst })
	var n int
	fmt.Sscanf(reader.stop(t), "got %d", &n)
	if n != burst {
		t.Errorf("the reading user got %d of %d datagrams beside 4 hoarders", n, burst)
	}
	snap, err := ctl.Stats(e.sock)
	if err != nil {
		t.Fatal(err)
	}
	var hoarded uint64
	for _, ep := range snap.Endpoints {
		if strings.HasPrefix(ep.Name, "udp/0.0.0.0:600") {
			hoarded += ep.Dropped
		}
	}
	for _, ci := range snap.Clients {
		if ci.UID == uidNobody {
			hoarded += ci.Dropped
		}
	}
	t.Logf("hoarders' drops, counted on them: %d", hoarded)
	for _, ep := range snap.Endpoints {
		t.Logf("endpoint %+v", ep)
	}
	for _, ci := range snap.Clients {
		t.Logf("client %+v", ci)
	}
	t.Logf("totals %+v", snap.Totals)
	if hoarded == 0 {
		t.Error("no drop counted on the hoarders")
	}
	for _, c := range hoarders {
		c.stdin.Close()
	}
}

// TestIsolationFlood: one user's connection flood hits its cap and root's
// stats still answers (issue 12, attack 5).
func TestIsolationFlood(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_SETUID, CAP_SETGID: runs children as other users")
	e := newIsoEnv(t, "xif")
	flood := e.start(t, uidNobody, "flood|"+e.sock+"|2000")
	line := flood.next(t)
	var open, refused, limit int
	fmt.Sscanf(line, "open %d refused %d limit %d", &open, &refused, &limit)
	t.Logf("flood of 2000 connections: %s", line)
	caps := ctl.DefaultLimits()
	if open > caps.ConnsPerUID || limit == 0 {
		t.Errorf("flood: %s; want at most %d open and the rest refused with CodeLimit", line, caps.ConnsPerUID)
	}
	start := time.Now()
	if _, err := ctl.Stats(e.sock); err != nil {
		t.Fatalf("root stats during the flood: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("root stats took %v during the flood, want < 2 s", d)
	}
	// Another user still binds.
	c, l := e.bindAs(t, uidUser, "udp/0.0.0.0:5002", false, "read")
	wantLine(t, "user binding during the flood", l, "bound ")
	c.stop(t)
	flood.stdin.Close()
	if n := len(e.stderr.String()); n > 64<<10 {
		t.Errorf("run logged %d bytes for one flood, want it rate-limited", n)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("condition not met within %v", d)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
