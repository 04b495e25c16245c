package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// attached reports whether any XDP program is on the lab's receive side.
func attached(t *testing.T, lab *netlab.Lab) bool {
	t.Helper()
	var on bool
	if err := lab.InRecv(func() (err error) {
		on, err = xdpprog.Attached(lab.RecvIndex)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return on
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// inProcessRun is `xdpmux run` serving a lab's receiving end from the test
// process: runMain on a thread in the lab's namespace.
type inProcessRun struct {
	ready          runReady
	stdout, stderr lockedBuffer
	cancel         context.CancelFunc
	done           chan int // runMain's exit status
}

// startRun starts `xdpmux run -iface RECV args...` in lab and returns once
// it serves; the test's end stops it if stop did not.
func startRun(t *testing.T, lab *netlab.Lab, args ...string) *inProcessRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &inProcessRun{cancel: cancel, done: make(chan int, 1)}
	readyCh := make(chan runReady, 1)
	go func() {
		code := -1
		if err := lab.InRecv(func() error {
			code = runMain(ctx, append([]string{"-iface", lab.RecvIf}, args...), &r.stdout, &r.stderr,
				func(rd runReady) { readyCh <- rd })
			return nil
		}); err != nil {
			t.Error(err)
		}
		r.done <- code
	}()
	select {
	case r.ready = <-readyCh:
	case code := <-r.done:
		t.Fatalf("run ended early with %d: %s", code, r.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("run not ready: %s", r.stderr.String())
	}
	return r
}

// stop ends the run as SIGTERM would and checks that it exits 0.
func (r *inProcessRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		if code != 0 {
			t.Errorf("run exit %d: %s", code, r.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
}

// statsJSON is `xdpmux stats -ctl sock -json`, decoded with its info.
func statsJSON(t *testing.T, sock string) (ctl.StatsSnapshot, runInfo) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := statsMain(context.Background(), []string{"-ctl", sock, "-json"}, &out, &errb); code != 0 {
		t.Fatalf("stats -json: %d %s", code, errb.String())
	}
	var js ctl.StatsSnapshot
	var info runInfo
	if err := json.Unmarshal(out.Bytes(), &js); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js.Info, &info); err != nil {
		t.Fatal(err)
	}
	return js, info
}

func TestRunEndToEnd(t *testing.T) {
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: "xr"})
	sock := filepath.Join(t.TempDir(), "run", "xdpmux.sock")
	run := startRun(t, lab, "-metrics", "127.0.0.1:0", "-ctl", sock, "-sink", "udp/0.0.0.0:7000/2")
	rd := run.ready
	t.Logf("running: %+v", rd)
	if !attached(t, lab) {
		t.Error("no XDP program while running")
	}

	// A control client on its own port, and one joining the sinks' group
	// (same uid, reuseport).
	own, err := ctl.Listen(sock, "udp/0.0.0.0:7001", ctl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	joiner, err := ctl.Listen(sock, "udp/0.0.0.0:7000", ctl.Options{ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer joiner.Close()
	var joined int
	joinDone := make(chan struct{})
	go func() {
		defer close(joinDone)
		batch := make([]ctl.Message, 64)
		for {
			n, err := joiner.ReadBatch(batch)
			if err != nil {
				return
			}
			joined += n
		}
	}()

	srcPorts := []uint16{40000, 40001, 40002, 40003, 40004, 40005, 40006, 40007}
	const n = 400
	got := make(chan []ctl.Message, 1)
	go func() {
		var ms []ctl.Message
		batch := make([]ctl.Message, 64)
		own.SetReadDeadline(time.Now().Add(20 * time.Second))
		for len(ms) < n {
			k, err := own.ReadBatch(batch)
			if err != nil {
				t.Errorf("client read after %d: %v", len(ms), err)
				break
			}
			for _, m := range batch[:k] {
				m.Payload = bytes.Clone(m.Payload)
				ms = append(ms, m)
			}
		}
		got <- ms
	}()
	payload := func(i int) []byte { return fmt.Appendf(nil, "frame %d", i) }
	if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, 7001), srcPorts, payload, n); err != nil {
		t.Fatal(err)
	}
	ms := <-got
	seen := map[string]bool{}
	queues := map[int]int{}
	for _, m := range ms {
		if m.Src.Addr() != lab.SendAddr || m.Dst != netip.AddrPortFrom(lab.RecvAddr, 7001) || seen[string(m.Payload)] {
			t.Errorf("frame src %v dst %v payload %q (dup %v)", m.Src, m.Dst, m.Payload, seen[string(m.Payload)])
		}
		seen[string(m.Payload)] = true
		queues[m.Queue]++
	}
	t.Logf("control client got %d of %d frames, by queue %v", len(ms), n, queues)

	if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, 7000), srcPorts, payload, n); err != nil {
		t.Fatal(err)
	}
	// Wait until the group's three members got all of it.
	var snap ctl.StatsSnapshot
	deadline := time.Now().Add(20 * time.Second)
	for {
		snap, err = ctl.Stats(sock)
		if err != nil {
			t.Fatal(err)
		}
		var g uint64
		for _, e := range snap.Endpoints {
			if strings.HasPrefix(e.Name, "udp/0.0.0.0:7000") {
				g += e.Delivered
			}
		}
		if g == n || time.Now().After(deadline) {
			t.Logf("group udp/0.0.0.0:7000 (2 sinks + 1 client) delivered %d of %d", g, n)
			if g != n {
				t.Errorf("group delivered %d, want %d", g, n)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if snap.Totals.RX != 2*n || snap.Totals.Unmatched != 0 || snap.Totals.MalformedTotal() != 0 {
		t.Errorf("totals %+v, want rx %d, nothing unmatched or malformed", snap.Totals, 2*n)
	}

	// stats -json through the command.
	js, info := statsJSON(t, sock)
	var out, errb bytes.Buffer
	var redirected uint64
	for _, x := range info.XDP {
		redirected += x.Program.Redirected
	}
	if info.Interface.Ifname != lab.RecvIf || len(js.Endpoints) != 4 || redirected != 2*n {
		t.Errorf("stats -json: iface %q, %d endpoints, redirected %d; want %s, 4, %d", info.Interface.Ifname, len(js.Endpoints), redirected, lab.RecvIf, 2*n)
	}
	out.Reset()
	statsMain(context.Background(), []string{"-ctl", sock}, &out, &errb)
	t.Logf("xdpmux stats:\n%s", out.String())

	// Metrics, scraped from inside the namespace run listens in.
	body, err := httpGetDial("http://"+rd.MetricsAddr+"/metrics", func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = lab.InRecv(func() error {
			c, err = net.Dial(network, addr)
			return err
		})
		return c, err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"xdpmux_queue_rx_total{queue=\"0\"}", "xdpmux_queue_delivered_total", "xdpmux_queue_unmatched_total",
		"xdpmux_queue_malformed_total", "xdpmux_queue_ring_full_total", "xdpmux_queue_closed_dropped_total",
		"xdpmux_endpoint_delivered_total{endpoint=\"udp/0.0.0.0:7000#0\"", "xdpmux_endpoint_dropped_total",
		"xdpmux_group_members{spec=\"udp/0.0.0.0:7000\"} 3", "xdpmux_xsk_rx_dropped_total", "xdpmux_xdp_redirected_total",
		fmt.Sprintf("xdpmux_info{ifname=%q,mode=\"native\",xsk_mode=\"copy\"} 1", lab.RecvIf),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Shutdown: clients are told, XDP detached, the socket file removed.
	run.stop(t)
	<-joinDone
	t.Logf("joined client got %d frames of the group's %d", joined, n)
	if _, err := own.ReadBatch(make([]ctl.Message, 1)); !errors.Is(err, ctl.ErrDisconnected) {
		t.Errorf("client read after shutdown: %v, want ErrDisconnected", err)
	}
	if attached(t, lab) {
		t.Error("XDP program left attached after shutdown")
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket after shutdown: %v, want it removed", err)
	}
	if !strings.Contains(run.stdout.String(), "sink udp/0.0.0.0:7000#0 packets ") {
		t.Errorf("stdout %q lacks the sink summary", run.stdout.String())
	}
	t.Logf("stdout:\n%s", run.stdout.String())
	t.Logf("log:\n%s", run.stderr.String())
}

// TestRunChild is the child of TestRunKilled: with XDPMUX_RUN_CHILD=NS|IF|SOCK
// it runs `xdpmux run` in namespace NS and prints "ready" when serving.
func TestRunChild(t *testing.T) {
	arg := os.Getenv("XDPMUX_RUN_CHILD")
	if arg == "" {
		return
	}
	p := strings.Split(arg, "|")
	lab := &netlab.Lab{RecvNS: p[0]}
	code := 1
	err := lab.InRecv(func() error {
		code = runMain(context.Background(), []string{"-iface", p[1], "-ctl", p[2], "udp/0.0.0.0:7000/2"}, os.Stdout, os.Stderr,
			func(runReady) { fmt.Println("ready") })
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

func TestRunKilled(t *testing.T) {
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: "xr"})
	sock := filepath.Join(t.TempDir(), "xdpmux.sock")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestRunChild$")
	cmd.Env = append(os.Environ(), "XDPMUX_RUN_CHILD="+lab.RecvNS+"|"+lab.RecvIf+"|"+sock)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		if strings.TrimSpace(s) != "ready" {
			t.Fatalf("child said %q: %s", s, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("child not ready: %s", stderr.String())
	}
	if !attached(t, lab) {
		t.Fatal("no XDP program while the child runs")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The program hangs on a bpf_link the kernel drops with the process.
	deadline := time.Now().Add(10 * time.Second)
	for attached(t, lab) {
		if time.Now().After(deadline) {
			t.Fatal("XDP program still attached after kill -9")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The stale socket file does not stop the next run.
	ctx, cancel := context.WithCancel(context.Background())
	var errb bytes.Buffer
	var code int
	lab.InRecv(func() error {
		code = runMain(ctx, []string{"-iface", lab.RecvIf, "-ctl", sock}, io.Discard, &errb, func(runReady) { cancel() })
		return nil
	})
	cancel()
	if code != 0 {
		t.Errorf("run after a killed run: exit %d: %s", code, errb.String())
	}
	if attached(t, lab) {
		t.Error("XDP program left attached")
	}
}
