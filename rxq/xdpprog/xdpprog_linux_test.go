//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package xdpprog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

func TestClaimKey(t *testing.T) {
	v4 := netip.MustParseAddr("198.18.0.2")
	v6 := netip.MustParseAddr("2001:2::1:2")
	for _, tt := range []struct {
		proto uint8
		addr  netip.Addr
		port  uint16
		bytes [20]byte // as stored in the map
		err   error
	}{
		{ProtoUDP, v4, 53, [20]byte{17, 4, 0x00, 0x35, 198, 18, 0, 2}, nil},
		{ProtoTCP, v4, 0x1234, [20]byte{6, 4, 0x12, 0x34, 198, 18, 0, 2}, nil},
		{ProtoUDP, netip.AddrFrom16(v4.As16()), 53, [20]byte{17, 4, 0x00, 0x35, 198, 18, 0, 2}, nil}, // 4in6
		{ProtoTCP, v6, 443, [20]byte{6, 6, 0x01, 0xbb, 0x20, 0x01, 0, 2, 17: 1, 19: 2}, nil},
		{1, v4, 53, [20]byte{}, ErrProto},
		{ProtoUDP, netip.Addr{}, 53, [20]byte{}, ErrInvalidClaim},
		{ProtoUDP, netip.IPv4Unspecified(), 53, [20]byte{}, ErrInvalidClaim},
		{ProtoUDP, netip.IPv6Unspecified(), 53, [20]byte{}, ErrInvalidClaim},
		{ProtoUDP, netip.AddrFrom16(netip.IPv4Unspecified().As16()), 53, [20]byte{}, ErrInvalidClaim},
		{ProtoUDP, netip.MustParseAddr("fe80::1%eth0"), 53, [20]byte{}, ErrInvalidClaim},
	} {
		k, err := claimKey(tt.proto, tt.addr, tt.port)
		if !errors.Is(err, tt.err) {
			t.Errorf("claimKey(%d, %s, %d) error %v, want %v", tt.proto, tt.addr, tt.port, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		// As the kernel copies it.
		got := [20]byte{k.Proto, k.Family}
		binary.NativeEndian.PutUint16(got[2:], k.Port)
		for i, w := range k.Addr {
			binary.NativeEndian.PutUint32(got[4+4*i:], w)
		}
		if got != tt.bytes {
			t.Errorf("claimKey(%d, %s, %d) = % x, want % x", tt.proto, tt.addr, tt.port, got, tt.bytes)
		}
	}
}

func TestHaveXDPLink(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	if err := HaveXDPLink(); err != nil {
		labtest.SkipIfNotSupported(t, err)
		t.Fatalf("HaveXDPLink: %v", err)
	}
	// Cached: the second call gives the same answer.
	if err := HaveXDPLink(); err != nil {
		t.Fatalf("HaveXDPLink (cached): %v", err)
	}
}

// forgetXDPLink drops HaveXDPLink's cached answer and reports whether there
// was one.
func forgetXDPLink() (had bool) {
	haveXDPLink.mu.Lock()
	defer haveXDPLink.mu.Unlock()
	had = haveXDPLink.done
	haveXDPLink.done, haveXDPLink.err = false, nil
	return had
}

// A probe that fails for lack of privilege says nothing about the kernel:
// it is not cached, and the next call, as root, probes again.
func TestHaveXDPLinkAsksAgainAfterPermission(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF, CAP_SETUID")
	// cilium/ebpf caches its own probes (program type, memlock) once
	// conclusive: ask them as root first, so the unprivileged call gets
	// as far as loading the probe program.
	if err := features.HaveProgramType(ebpf.XDP); err != nil {
		t.Fatal(err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	forgetXDPLink()
	t.Cleanup(func() { forgetXDPLink() })
	err := labtest.AsEUID(t, 65534, HaveXDPLink)
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("HaveXDPLink as uid 65534: got %v, want ErrPermission", err)
	}
	if forgetXDPLink() {
		t.Fatalf("HaveXDPLink cached a failure for lack of privilege")
	}
	if err := HaveXDPLink(); err != nil {
		t.Fatalf("HaveXDPLink as root after the failure: %v", err)
	}
	if !forgetXDPLink() {
		t.Errorf("HaveXDPLink did not cache its conclusive answer")
	}
}

// attach attaches the program to the lab's receive side and detaches it at
// the end of the test, checking nothing is left attached.
func attach(t *testing.T, l *netlab.Lab, opts Options) *Program {
	t.Helper()
	var p *Program
	err := l.InRecv(func() error {
		var err error
		p, err = Attach(l.RecvIndex, opts)
		return err
	})
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Program Close: %v", err)
		}
		if attached(t, l) {
			t.Error("XDP program still attached after Close")
		}
	})
	return p
}

func attached(t *testing.T, l *netlab.Lab) bool {
	t.Helper()
	var ok bool
	err := l.InRecv(func() error {
		var err error
		ok, err = Attached(l.RecvIndex)
		return err
	})
	if err != nil {
		t.Fatalf("Attached: %v", err)
	}
	return ok
}

// receiver is a kernel UDP socket in the lab's receive namespace that counts
// datagrams in the background.
type receiver struct {
	conn *net.UDPConn
	done chan int
}

func listen(t *testing.T, l *netlab.Lab, port uint16) *receiver {
	t.Helper()
	r := &receiver{done: make(chan int, 1)}
	err := l.InRecv(func() error {
		var err error
		r.conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.RecvAddr, port)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.conn.Close() })
	return r
}

// count reads until want datagrams arrived or wait passed without reaching
// it, and returns how many arrived.
func (r *receiver) count(want int, wait time.Duration) int {
	buf := make([]byte, 2048)
	n := 0
	r.conn.SetReadDeadline(time.Now().Add(wait))
	for n < want {
		if _, _, err := r.conn.ReadFromUDPAddrPort(buf); err != nil {
			break
		}
		n++
	}
	return n
}

var srcPorts = []uint16{42000, 42001, 42002, 42003, 42004, 42005, 42006, 42007}

func send(t *testing.T, l *netlab.Lab, port uint16, count int) {
	t.Helper()
	payload := func(i int) []byte { return []byte(strconv.Itoa(i)) }
	if err := netlab.SendUDP(l, netip.AddrPortFrom(l.RecvAddr, port), srcPorts, payload, count); err != nil {
		t.Fatal(err)
	}
}

func sum(cs []QueueCounters) (s QueueCounters) {
	s.Queue = -1
	for _, c := range cs {
		s.Redirected += c.Redirected
		s.Passed += c.Passed
		s.Dropped += c.Dropped
		s.KernelOwned += c.KernelOwned
		s.NotForHost += c.NotForHost
	}
	return s
}

func counters(t *testing.T, p *Program) []QueueCounters {
	t.Helper()
	cs, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// sendCount sends count datagrams to port while r counts them.
func sendCount(t *testing.T, l *netlab.Lab, r *receiver, port uint16, count int, wait time.Duration) int {
	t.Helper()
	got := make(chan int, 1)
	go func() { got <- r.count(count, wait) }()
	send(t, l, port, count)
	return <-got
}

func TestAttachPassAndDrop(t *testing.T) {
	const (
		queues    = 2
		count     = 200
		claimed   = 9000
		unclaimed = 9001
		elsewhere = 9002 // claimed on another address only
	)
	l := labtest.NewLab(t, netlab.Config{Queues: queues})
	p := attach(t, l, Options{})
	if p.Mode() != ModeNative {
		t.Errorf("Mode() = %v, want native on veth", p.Mode())
	}
	if !attached(t, l) {
		t.Fatal("Attached() = false after Attach")
	}
	if p.mac.String() != l.RecvMAC.String() {
		t.Errorf("program MAC %s, want the interface's %s", p.mac, l.RecvMAC)
	}
	if err := p.Claim(ProtoUDP, l.RecvAddr, claimed); err != nil {
		t.Fatal(err)
	}
	other := l.RecvAddr.Next()
	if err := p.Claim(ProtoUDP, other, elsewhere); err != nil {
		t.Fatal(err)
	}
	if cs := counters(t, p); len(cs) != 0 {
		t.Errorf("counters before traffic: %+v, want none", cs)
	}
	want := QueueCounters{Queue: -1}
	check := func(step string) {
		t.Helper()
		if s := sum(counters(t, p)); s != want {
			t.Errorf("%s: counters %+v, want %+v", step, s, want)
		}
	}

	// Unclaimed port: XDP_PASS, the kernel socket gets everything.
	ru := listen(t, l, unclaimed)
	if got := sendCount(t, l, ru, unclaimed, count, 5*time.Second); got != count {
		t.Errorf("unclaimed port: kernel socket received %d, want %d", got, count)
	}
	want.Passed += count
	check("unclaimed traffic")
	cs := counters(t, p)
	if len(cs) != queues {
		t.Errorf("traffic from %d source ports reached queues %+v, want all %d", len(srcPorts), cs, queues)
	}
	t.Logf("per-queue counters after unclaimed traffic: %+v", cs)

	// Claimed port with a kernel socket bound to it: the kernel owns the
	// traffic, with or without drop-claimed mode.
	rc := listen(t, l, claimed)
	if got := sendCount(t, l, rc, claimed, count, 5*time.Second); got != count {
		t.Errorf("claimed port with a kernel socket: kernel socket received %d, want %d", got, count)
	}
	want.Passed += count
	want.KernelOwned += count
	check("claimed port with a kernel socket")
	if err := p.SetDropClaimed(true); err != nil {
		t.Fatal(err)
	}
	if got := sendCount(t, l, rc, claimed, count, 5*time.Second); got != count {
		t.Errorf("drop mode, claimed port with a kernel socket: kernel socket received %d, want %d", got, count)
	}
	want.Passed += count
	want.KernelOwned += count
	check("drop mode, claimed port with a kernel socket")

	// Without the kernel socket, drop-claimed mode drops the claimed
	// port's frames, and the unclaimed one still gets everything.
	rc.conn.Close()
	send(t, l, claimed, count)
	waitCounters(t, p, func(s QueueCounters) bool { return s.Dropped >= count })
	want.Dropped += count
	check("drop mode, claimed port")
	if got := sendCount(t, l, ru, unclaimed, count, 5*time.Second); got != count {
		t.Errorf("drop mode: kernel socket on unclaimed port received %d, want %d", got, count)
	}
	want.Passed += count
	check("drop mode, unclaimed port")

	// A port claimed on another address is not claimed on this one.
	send(t, l, elsewhere, count)
	waitCounters(t, p, func(s QueueCounters) bool { return s.Passed >= want.Passed+count })
	want.Passed += count
	check("drop mode, port claimed on another address")

	// Unclaim: the kernel gets the port back.
	if err := p.Unclaim(ProtoUDP, l.RecvAddr, claimed); err != nil {
		t.Fatal(err)
	}
	if err := p.Unclaim(ProtoUDP, l.RecvAddr, claimed); err != nil {
		t.Errorf("second Unclaim: %v", err)
	}
	send(t, l, claimed, count)
	waitCounters(t, p, func(s QueueCounters) bool { return s.Passed >= want.Passed+count })
	want.Passed += count
	check("after Unclaim")
	// A TCP claim on the same address and port does not catch UDP.
	if err := p.Claim(ProtoTCP, l.RecvAddr, claimed); err != nil {
		t.Fatal(err)
	}
	send(t, l, claimed, count)
	waitCounters(t, p, func(s QueueCounters) bool { return s.Passed >= want.Passed+count })
	want.Passed += count
	check("tcp claim, udp traffic")

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if attached(t, l) {
		t.Error("Attached() = true after Close")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := p.Claim(ProtoUDP, l.RecvAddr, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Claim after Close = %v, want ErrClosed", err)
	}
	if _, err := p.Counters(); !errors.Is(err, ErrClosed) {
		t.Errorf("Counters after Close = %v, want ErrClosed", err)
	}
	if _, err := p.Verdict(make([]byte, 60)); !errors.Is(err, ErrClosed) {
		t.Errorf("Verdict after Close = %v, want ErrClosed", err)
	}
}

// waitCounters waits up to 5s for the summed counters to satisfy ok (the
// frames sent are on their way through the veth).
func waitCounters(t *testing.T, p *Program, ok func(QueueCounters) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := sum(counters(t, p))
		if ok(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("counters %+v after 5s, still not as expected", s)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAttachGeneric(t *testing.T) {
	const count = 100
	l := labtest.NewLab(t, netlab.Config{Queues: 2})
	p := attach(t, l, Options{ForceGeneric: true, DropClaimed: true})
	if p.Mode() != ModeGeneric {
		t.Errorf("Mode() = %v, want generic", p.Mode())
	}
	if err := p.Claim(ProtoUDP, l.RecvAddr, 7000); err != nil {
		t.Fatal(err)
	}
	send(t, l, 7000, count)
	waitCounters(t, p, func(s QueueCounters) bool { return s.Dropped >= count })
	// In generic mode on veth every frame reports rx queue 0.
	cs := counters(t, p)
	if len(cs) != 1 || cs[0] != (QueueCounters{Queue: 0, Dropped: count}) {
		t.Errorf("generic counters %+v, want queue 0 dropped %d", cs, count)
	}
	// A kernel socket on the port takes its traffic back, in generic mode
	// too.
	r := listen(t, l, 7000)
	if got := sendCount(t, l, r, 7000, count, 5*time.Second); got != count {
		t.Errorf("generic drop mode with a kernel socket: received %d, want %d", got, count)
	}
	cs = counters(t, p)
	if len(cs) != 1 || cs[0] != (QueueCounters{Queue: 0, Dropped: count, Passed: count, KernelOwned: count}) {
		t.Errorf("generic counters %+v, want queue 0 dropped, passed and kernel-owned %d", cs, count)
	}
}

func TestAttachErrors(t *testing.T) {
	l := labtest.NewLab(t, netlab.Config{Queues: 1})
	p := attach(t, l, Options{})
	// A second program on the same interface is refused, and the first
	// stays attached.
	err := l.InRecv(func() error {
		p2, err := Attach(l.RecvIndex, Options{})
		if err == nil {
			p2.Close()
			return errors.New("second Attach succeeded")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if !attached(t, l) {
		t.Error("first program detached by failed second Attach")
	}
	if _, err := Attach(-1, Options{}); err == nil {
		t.Error("Attach(-1) succeeded")
	}
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"register queue -1", p.Register(-1, 0), ErrQueueRange},
		{"register queue 64", p.Register(MaxQueues, 0), ErrQueueRange},
		{"unregister queue 64", p.Unregister(MaxQueues), ErrQueueRange},
		{"claim proto 1", p.Claim(1, l.RecvAddr, 80), ErrProto},
		{"unclaim proto 58", p.Unclaim(58, l.RecvAddr, 80), ErrProto},
		{"claim 0.0.0.0", p.Claim(ProtoUDP, netip.IPv4Unspecified(), 80), ErrInvalidClaim},
		{"claim ::", p.Claim(ProtoTCP, netip.IPv6Unspecified(), 80), ErrInvalidClaim},
		{"claim zero Addr", p.Claim(ProtoTCP, netip.Addr{}, 80), ErrInvalidClaim},
		{"unclaim zoned", p.Unclaim(ProtoTCP, netip.MustParseAddr("fe80::1%1"), 80), ErrInvalidClaim},
		{"unregister empty", p.Unregister(3), nil},
	} {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	// Not an AF_XDP socket.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := p.Register(0, int(f.Fd())); err == nil {
		t.Error("Register of /dev/null succeeded")
	}
}

const helperEnv = "XDPMUX_XDPPROG_HELPER"

// TestHelperProcess is not a test: run by TestKilledProcessDetaches in a
// child process, it attaches the program in the namespace named by
// XDPMUX_XDPPROG_HELPER ("netns:ifindex"), says "attached", and waits to be
// killed.
func TestHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		return // not a helper process: nothing to do
	}
	var (
		ns      string
		ifindex int
	)
	if _, err := fmt.Sscanf(spec, "%s %d", &ns, &ifindex); err != nil {
		fmt.Println("bad spec:", err)
		os.Exit(2)
	}
	l := &netlab.Lab{RecvNS: ns}
	err := l.InRecv(func() error {
		_, err := Attach(ifindex, Options{})
		return err
	})
	if err != nil {
		fmt.Println("attach:", err)
		os.Exit(2)
	}
	fmt.Println("attached")
	time.Sleep(time.Minute)
	os.Exit(3)
}

func TestKilledProcessDetaches(t *testing.T) {
	l := labtest.NewLab(t, netlab.Config{Queues: 1})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", helperEnv, l.RecvNS, l.RecvIndex))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "attached\n" {
		t.Fatalf("helper said %q, %v; want \"attached\"", line, err)
	}
	if !attached(t, l) {
		t.Fatal("helper's program not attached")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	deadline := time.Now().Add(5 * time.Second)
	for attached(t, l) {
		if time.Now().After(deadline) {
			t.Fatal("XDP program still attached 5s after its process was killed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want error
	}{
		{unix.EPERM, ErrPermission},
		{fmt.Errorf("load: %w", unix.EACCES), ErrPermission},
		{fmt.Errorf("attach: %w", ebpf.ErrNotSupported), ErrNotSupported},
		{unix.EOPNOTSUPP, ErrNotSupported},
	} {
		got := classify(tt.err)
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("classify(%v) = %v, want it to match %v and keep the cause", tt.err, got, tt.want)
		}
	}
	if got := classify(unix.EBUSY); errors.Is(got, ErrPermission) || errors.Is(got, ErrNotSupported) {
		t.Errorf("classify(EBUSY) = %v, want no sentinel", got)
	}
}
