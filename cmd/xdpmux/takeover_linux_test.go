package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
)

// The takeover test: traffic from `xdpmux gen` into a lab, four
// `ctlclient -reconnect` members of one reuseport group, and three
// takeovers in a row (kill -USR2) against what a plain stop and start
// loses and what a kernel SO_REUSEPORT server loses when it restarts its
// sockets one at a time. XDPMUX_TAKEOVER_PPS sets the rate (default
// 200000).

const takeoverPort = 7000

// takeoverRig is the lab, the binaries and the files of one test.
type takeoverRig struct {
	t         *testing.T
	lab       *netlab.Lab
	dir       string
	xdpmux    string
	ctlclient string
	sock      string
	rate      int
	logs      *os.File // every instance's stderr
}

func newTakeoverRig(t *testing.T) *takeoverRig {
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: "xk"})
	dir := t.TempDir()
	r := &takeoverRig{t: t, lab: lab, dir: dir, sock: filepath.Join(dir, "run", "xdpmux.sock"), rate: 200000,
		xdpmux: filepath.Join(dir, "xdpmux"), ctlclient: filepath.Join(dir, "ctlclient")}
	if s := os.Getenv("XDPMUX_TAKEOVER_PPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("XDPMUX_TAKEOVER_PPS=%q: want a rate", s)
		}
		r.rate = n
	}
	for _, b := range []struct{ out, pkg string }{{r.xdpmux, "."}, {r.ctlclient, "../../examples/ctlclient"}} {
		out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	var err error
	if r.logs, err = os.Create(filepath.Join(dir, "run.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.logs.Close()
		if t.Failed() || testing.Verbose() {
			b, _ := os.ReadFile(r.logs.Name())
			t.Logf("xdpmux run logs:\n%s", tail(b, 60))
		}
	})
	return r
}

// tail returns the last n lines of b.
func tail(b []byte, n int) []byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}

// start runs `xdpmux run` in the lab's receive namespace and waits until
// its control socket answers; it returns the pid.
func (r *takeoverRig) start(extra ...string) int {
	r.t.Helper()
	// With the capabilities the systemd unit grants, and no others.
	args := append([]string{"netns", "exec", r.lab.RecvNS, "setpriv", "--bounding-set", unitBoundingSet(r.t),
		"--inh-caps", "-all", "--", r.xdpmux, "run", "-iface", r.lab.RecvIf,
		"-ctl", r.sock, "-frames", "16384"}, extra...)
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = r.logs, r.logs
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go cmd.Wait() // reaped here; later instances are the children of earlier ones
	r.t.Cleanup(func() { stopPID(cmd.Process.Pid) })
	pid := r.waitPID(0, 30*time.Second)
	if pid != cmd.Process.Pid {
		r.t.Fatalf("instance pid %d, want %d", pid, cmd.Process.Pid)
	}
	return pid
}

// unitBoundingSet is the unit's CapabilityBoundingSet as setpriv's
// --bounding-set argument.
func unitBoundingSet(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../scripts/systemd/xdpmux.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			set := "-all"
			for _, c := range strings.Fields(v) {
				set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
			}
			return set
		}
	}
	t.Fatal("the unit has no CapabilityBoundingSet")
	return ""
}

// pid asks the control socket which instance serves it (0: none answers).
func (r *takeoverRig) pid() int {
	snap, err := ctl.Stats(r.sock)
	if err != nil {
		return 0
	}
	var ri runInfo
	if json.Unmarshal(snap.Info, &ri) != nil {
		return 0
	}
	return ri.PID
}

// waitPID waits until an instance other than not serves, and returns it.
func (r *takeoverRig) waitPID(not int, timeout time.Duration) int {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if p := r.pid(); p != 0 && p != not {
			return p
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no instance other than %d serves %s after %v", not, r.sock, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clients waits until n control clients are bound.
func (r *takeoverRig) waitClients(n int) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if snap, err := ctl.Stats(r.sock); err == nil && len(snap.Clients) == n {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d control clients not bound", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone reports whether pid has exited (or is a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

// stopPID sends SIGTERM and waits up to 10 s (then SIGKILL).
func stopPID(pid int) {
	if gone(pid) {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); !gone(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(time.Hour)
		}
	}
}

// member is one ctlclient -reconnect.
type member struct {
	cmd    *exec.Cmd
	stderr *os.File
}

func (r *takeoverRig) members(n int) []*member {
	r.t.Helper()
	var ms []*member
	for i := range n {
		f, err := os.Create(filepath.Join(r.dir, fmt.Sprintf("client%d.log", i)))
		if err != nil {
			r.t.Fatal(err)
		}
		cmd := exec.Command(r.ctlclient, "-ctl", r.sock, "-reuseport", "-reconnect", "-q",
			fmt.Sprintf("udp/0.0.0.0:%d", takeoverPort))
		cmd.Stderr = f
		if err := cmd.Start(); err != nil {
			r.t.Fatal(err)
		}
		m := &member{cmd: cmd, stderr: f}
		r.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); f.Close() })
		ms = append(ms, m)
	}
	r.waitClients(n)
	return ms
}

var clientTotal = regexp.MustCompile(`ctlclient: (\d+) frames, \d+ bytes, (\d+) reconnects`)

// stop ends the members and returns what they received in all and their
// reconnects.
func stopMembers(t *testing.T, ms []*member) (total uint64, reconnects []int) {
	t.Helper()
	for _, m := range ms {
		m.cmd.Process.Signal(os.Interrupt)
	}
	for _, m := range ms {
		m.cmd.Wait()
		b, _ := os.ReadFile(m.stderr.Name())
		sm := clientTotal.FindSubmatch(b)
		if sm == nil {
			t.Fatalf("ctlclient said:\n%s", b)
		}
		n, _ := strconv.ParseUint(string(sm[1]), 10, 64)
		rc, _ := strconv.Atoi(string(sm[2]))
		total += n
		reconnects = append(reconnects, rc)
	}
	return total, reconnects
}

// gen sends count frames at the rig's rate to the receive side's port and
// returns how many went out.
func (r *takeoverRig) gen(count int) (sent uint64, err error) {
	out, err := exec.Command(r.xdpmux, "gen", "-iface", r.lab.SendIf, "-netns", r.lab.SendNS,
		"-dst", fmt.Sprintf("%s:%d", r.lab.RecvAddr, takeoverPort), "-count", fmt.Sprint(count),
		"-rate", fmt.Sprint(r.rate), "-flows", "64", "-json").Output()
	if err != nil {
		return 0, fmt.Errorf("gen: %w: %s", err, out)
	}
	var res genResult
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("gen said %q: %w", out, err)
	}
	if res.Errors != 0 {
		return res.Sent, fmt.Errorf("gen: %d send errors", res.Errors)
	}
	return res.Sent, nil
}

// scenario sends for about seconds while events (at 1 s, 2 s, ...) run,
// and returns what was sent.
func (r *takeoverRig) scenario(seconds int, events []func()) uint64 {
	r.t.Helper()
	type result struct {
		sent uint64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		n, err := r.gen(r.rate * seconds)
		done <- result{n, err}
	}()
	// Events at fixed times from the start, not after each other: an event
	// that takes a while (a restart) must not push the next past the end.
	t0 := time.Now()
	slot := time.Second * time.Duration(seconds) / time.Duration(len(events)+1)
	for i, ev := range events {
		select {
		case res := <-done:
			r.t.Fatalf("gen ended before event %d: %d sent, %v", i, res.sent, res.err)
		case <-time.After(time.Until(t0.Add(time.Duration(i+1) * slot))):
		}
		ev()
	}
	res := <-done
	if res.err != nil {
		r.t.Fatal(res.err)
	}
	return res.sent
}

// settle waits until the receivers have taken every frame in flight.
func settle() { time.Sleep(time.Second) }

// calibrate finds the rate this machine holds without loss and without
// takeovers, from the rig's rate down by halves (to 1/8 of it): a loaded
// machine that drops at 200k pps with nothing happening says nothing
// about takeovers. The rig then runs at half the rate that held. It
// returns the members, restarted.
func (r *takeoverRig) calibrate(ms []*member) []*member {
	r.t.Helper()
	for floor := r.rate / 8; ; r.rate /= 2 {
		sent, err := r.gen(r.rate)
		if err != nil {
			r.t.Fatal(err)
		}
		settle()
		got, _ := stopMembers(r.t, ms)
		ms = r.members(len(ms))
		if got == sent {
			// Run at half what held once: a shared machine's load
			// varies over the test's seconds, and a takeover gap of
			// 20 ms still loses thousands of frames at half the rate.
			r.t.Logf("calibration: %d pps held (%d of %d frames); the test runs at half", r.rate, got, sent)
			r.rate /= 2
			return ms
		}
		r.t.Logf("calibration: %d pps loses %d of %d frames without a takeover", r.rate, int64(sent)-int64(got), sent)
		if r.rate/2 < floor {
			r.t.Fatalf("the machine loses frames at %d pps even without a takeover", r.rate)
		}
	}
}

func TestTakeoverLosesNothing(t *testing.T) {
	r := newTakeoverRig(t)
	pid := r.start()
	ms := r.calibrate(r.members(4))
	takeovers := 0
	var pauses []time.Duration
	takeover := func() {
		t0 := time.Now()
		if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
			t.Fatal(err)
		}
		next := r.waitPID(pid, 30*time.Second)
		for deadline := time.Now().Add(10 * time.Second); !gone(pid); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("old instance %d still running after the takeover", pid)
			}
		}
		pauses = append(pauses, time.Since(t0))
		pid = next
		takeovers++
	}
	// A new instance that fails before it serves (here: other queues)
	// leaves the old one serving, its clients connected.
	failed := func() {
		out, err := exec.Command("ip", "netns", "exec", r.lab.RecvNS, r.xdpmux, "run", "-takeover",
			"-iface", r.lab.RecvIf, "-ctl", r.sock, "-queues", "0").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "queues") {
			t.Errorf("takeover with other queues: %v, %s; want it refused", err, out)
		}
		if p := r.pid(); p != pid {
			t.Errorf("after a failed takeover %d serves, want %d", p, pid)
		}
	}
	sent := r.scenario(5, []func(){failed, takeover, takeover, takeover})
	settle()
	r.waitClients(4)
	got, rcs := stopMembers(t, ms)
	t.Logf("takeover x%d at %d pps: sent %d, received %d, lost %d (SIGUSR2 to new serving: %v)",
		takeovers, r.rate, sent, got, int64(sent)-int64(got), pauses)
	if got != sent {
		t.Errorf("clients received %d of %d frames across %d takeovers: %d lost, want 0", got, sent, takeovers, int64(sent)-int64(got))
	}
	for i, rc := range rcs {
		if rc != takeovers {
			t.Errorf("client %d reconnected %d times, want %d", i, rc, takeovers)
		}
	}
	b, _ := os.ReadFile(r.logs.Name())
	if n := strings.Count(string(b), "takeover: handed over"); n != takeovers {
		t.Errorf("%d hand-overs logged, want %d", n, takeovers)
	}
	if !attached(t, r.lab) {
		t.Error("no XDP program after the takeovers")
	}
	stopPID(pid)
	if attached(t, r.lab) {
		t.Error("XDP program left attached after the last instance stopped")
	}
	for _, p := range []string{r.sock, takeoverPath(r.sock)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after the last instance stopped: %v, want it removed", p, err)
		}
	}
}

// TestRestartLoses measures, for comparison, what a plain stop and start
// loses with the same clients (-reconnect) and traffic. It asserts only
// that traffic flows before and after.
func TestRestartLoses(t *testing.T) {
	r := newTakeoverRig(t)
	pid := r.start()
	ms := r.members(4)
	restart := func() {
		stopPID(pid)
		pid = r.start()
	}
	// A restart takes 1-3 s (stop, attach, clients reconnect): 10 s leave
	// room for three.
	sent := r.scenario(10, []func(){restart, restart, restart})
	settle()
	r.waitClients(4)
	got, _ := stopMembers(t, ms)
	t.Logf("stop+start x3 at %d pps: sent %d, received %d, lost %d", r.rate, sent, got, int64(sent)-int64(got))
	if got == 0 || got > sent {
		t.Errorf("received %d of %d", got, sent)
	}
	stopPID(pid)
}

// TestReusePortRestartLoses measures what a kernel UDP server of four
// SO_REUSEPORT sockets loses when it restarts them one at a time, as
// servers relying on the kernel's reuseport do (no xdpmux).
func TestReusePortRestartLoses(t *testing.T) {
	r := newTakeoverRig(t)
	var (
		mu    sync.Mutex
		socks [4]*net.UDPConn
		wg    sync.WaitGroup
		total atomic.Uint64
	)
	open := func(i int) {
		var c *net.UDPConn
		if err := r.lab.InRecv(func() error {
			lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				rc.Control(func(fd uintptr) {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
				})
				return serr
			}}
			pc, err := lc.ListenPacket(t.Context(), "udp4", fmt.Sprintf(":%d", takeoverPort))
			if err != nil {
				return err
			}
			c = pc.(*net.UDPConn)
			return c.SetReadBuffer(4 << 20)
		}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		socks[i] = c
		mu.Unlock()
		wg.Go(func() {
			buf := make([]byte, 2048)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				total.Add(1)
			}
		})
	}
	for i := range socks {
		open(i)
	}
	k := 0
	restart := func() {
		mu.Lock()
		c := socks[k]
		mu.Unlock()
		c.Close()
		open(k)
		k++
	}
	sent := r.scenario(4, []func(){restart, restart, restart})
	settle()
	mu.Lock()
	for _, c := range socks {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	got := total.Load()
	t.Logf("SO_REUSEPORT restart of 3 of 4 sockets at %d pps: sent %d, received %d, lost %d", r.rate, sent, got, int64(sent)-int64(got))
	if got == 0 || got > sent {
		t.Errorf("received %d of %d", got, sent)
	}
}
