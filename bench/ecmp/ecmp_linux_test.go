//go:build linux

package ecmp

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/fairness"
)

// require skips t for a missing privilege or tool, or fails it when
// XDPMUX_PRIVILEGED=1 says privileged tests must run.
func require(t *testing.T) {
	t.Helper()
	var missing string
	switch {
	case os.Geteuid() != 0:
		missing = "needs root (CAP_NET_ADMIN, CAP_BPF)"
	default:
		for _, tool := range []string{"ip", "bird", "birdc"} {
			if _, err := exec.LookPath(tool); err != nil {
				missing = "needs " + tool + " (Debian: apt-get install bird2 iproute2)"
				break
			}
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv(envPrivileged) == "1" {
		t.Fatalf("%s and %s=1 is set", missing, envPrivileged)
	}
	t.Skip(missing)
}

// buildXdpmux builds cmd/xdpmux into dir.
func buildXdpmux(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "xdpmux")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/xdpmux/xdpmux/cmd/xdpmux").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/xdpmux: %v\n%s", err, out)
	}
	return bin
}

const (
	testHosts   = 3
	testMembers = 4
	testFlows   = 1000
	firstPort   = 20000
	probeWait   = 5 * time.Second
	// Pacing of the traffic: a pause after every batch datagrams keeps the
	// rate far below what a loaded 2-CPU machine forwards, so that a lost
	// datagram means a bug, not an overflow.
	batch = 10
	pause = time.Millisecond
)

// TestECMPDrain runs 1000 UDP flows from the client over three xdpmux hosts
// behind an ECMP router fed by BGP, then drains the last host, once with
// the router's standard multipath route and once with a resilient nexthop
// group, and checks the spread, the flows that moved and that no datagram
// is lost.
func TestECMPDrain(t *testing.T) {
	require(t)
	start := time.Now()
	dir := t.TempDir()
	bin := buildXdpmux(t, dir)
	Cleanup(DefaultPrefix)
	l, err := New(Config{Hosts: testHosts, Members: testMembers, Xdpmux: bin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
		for _, ns := range l.Namespaces() {
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
				t.Errorf("namespace %s left behind", ns)
			}
		}
	})
	t.Logf("lab up in %v (%d hosts, BGP established, multipath route installed)", time.Since(start).Round(time.Millisecond), testHosts)
	t.Logf("router:\n%s", l.RouterRoute())
	if js, err := exec.Command("ip", "-n", l.RouterNS, "-j", "route", "show", Service.String()+"/32").Output(); err == nil {
		t.Logf("router (json): %s", js)
	}
	f, err := l.OpenFlows(testFlows, firstPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	// Spread: every flow sends the same number of datagrams; count them
	// per host and per member from xdpmux's own counters.
	const rounds = 5
	before, _, err := l.Delivered()
	if err != nil {
		t.Fatal(err)
	}
	for range rounds {
		if err := f.Round(batch, pause); err != nil {
			t.Fatal(err)
		}
	}
	after := waitDelivered(t, l, before, rounds*testFlows)
	perHost := make([]uint64, testHosts)
	for h := range after {
		var members []uint64
		for name, v := range after[h] {
			members = append(members, v-before[h][name])
			perHost[h] += v - before[h][name]
		}
		if len(members) != testMembers {
			t.Fatalf("host %d has %d members, want %d", h, len(members), testMembers)
		}
		j := fairness.Jain(members)
		t.Logf("host %d: %d datagrams, per member %v, Jain %.4f", h, perHost[h], members, j)
		if j < 0.95 {
			t.Errorf("host %d: Jain over members %.4f, want >= 0.95 (%v)", h, j, members)
		}
	}
	// Both AF_XDP queues of every host get traffic: the client picks its tx
	// queue by flow hash, and the router forwards on the queue it received on.
	for h := range l.Hosts {
		st, err := l.Stats(h)
		if err != nil {
			t.Fatal(err)
		}
		var rx []uint64
		for _, q := range st.Queues {
			rx = append(rx, q.RX)
		}
		t.Logf("host %d: frames per queue %v", h, rx)
		if len(rx) != 2 || slices.Contains(rx, 0) {
			t.Errorf("host %d: frames per queue %v, want traffic on both of 2 queues", h, rx)
		}
	}
	j := fairness.Jain(perHost)
	t.Logf("%d flows x %d datagrams over hosts %v: Jain %.4f", testFlows, rounds, perHost, j)
	if j < 0.95 {
		t.Errorf("Jain over hosts %.4f, want >= 0.95 (%v)", j, perHost)
	}

	// Drain one host with each routing scheme. Hash-threshold gives each
	// nexthop a range of the hash in route order: draining the last (or
	// first) host shifts the ranges of the others, draining the middle one
	// of three does not. The resilient group comes last: a host that joins
	// it again gets only buckets idle for ResilientIdle seconds.
	phases := []struct {
		name      string
		resilient bool
		leaving   int
	}{
		{"standard multipath, last nexthop", false, testHosts - 1},
		{"standard multipath, middle nexthop", false, 1},
		{"resilient group, last nexthop", true, testHosts - 1},
	}
	for _, p := range phases {
		m := drain(t, l, f, p.name, p.resilient, p.leaving)
		t.Logf("%s: %v", p.name, m)
		if p.resilient && m.MovedStaying != 0 {
			t.Errorf("%s: %d flows of the staying hosts moved, want 0", p.name, m.MovedStaying)
		}
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// drain places the flows, drains host leaving under traffic, checks that
// every datagram was delivered, stops the host's xdpmux, places the flows
// again and compares. It then restores the host unless resilient.
func drain(t *testing.T, l *Lab, f *Flows, mode string, resilient bool, leaving int) Moves {
	t.Helper()
	if resilient {
		if err := l.SetResilient(true); err != nil {
			t.Fatal(err)
		}
	}
	placed, err := l.Probe(f, probeWait)
	if err != nil {
		t.Fatalf("%s: %v", mode, err)
	}
	counts := PerHost(placed, testHosts)
	if slices.Contains(counts, 0) {
		t.Fatalf("%s: flows per host %v: a host gets none", mode, counts)
	}

	// Traffic on every flow while the host is drained.
	base, _, err := l.Delivered()
	if err != nil {
		t.Fatal(err)
	}
	sent0 := f.Sent()
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := f.Round(batch, pause); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	if err := l.Drain(leaving); err != nil {
		t.Fatal(err)
	}
	var stay []int
	for _, h := range l.AllHosts() {
		if h != leaving {
			stay = append(stay, h)
		}
	}
	if err := l.WaitPaths(stay, 30*time.Second); err != nil {
		t.Fatalf("%s: drain: %v", mode, err)
	}
	if resilient {
		if err := l.SyncResilient(); err != nil {
			t.Fatal(err)
		}
	}
	converged := time.Since(t0)
	t.Logf("%s: router after the withdrawal:\n%s", mode, l.RouterRoute())
	time.Sleep(300 * time.Millisecond)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sent := int(f.Sent() - sent0)
	got := waitDelivered(t, l, base, sent)
	t.Logf("%s: router moved off host %d %v after the withdrawal; %d datagrams sent during the drain, all delivered (host %d got %d)",
		mode, leaving, converged.Round(time.Millisecond), sent, leaving, sum(got[leaving])-sum(base[leaving]))

	if err := l.StopHost(leaving); err != nil {
		t.Fatal(err)
	}
	after, err := l.Probe(f, probeWait)
	if err != nil {
		t.Fatalf("%s: after the drain: %v", mode, err)
	}
	m, err := CompareMoves(placed, after, leaving)
	if err != nil {
		t.Fatalf("%s: %v", mode, err)
	}
	if m.Moved < m.OnLeaving {
		t.Errorf("%s: %d flows moved, fewer than the %d on the drained host", mode, m.Moved, m.OnLeaving)
	}
	// Members: the flows that stayed on their host stay on their member.
	for i := range placed {
		if placed[i].Host == after[i].Host && placed[i].Member != after[i].Member {
			t.Errorf("%s: flow %d stayed on host %d but moved from member %s to %s", mode, i, placed[i].Host, placed[i].Member, after[i].Member)
		}
	}

	// The hosts that stay serve everything.
	base, _, err = l.Delivered()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Round(batch, pause); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, l, base, testFlows)

	if !resilient {
		if err := l.StartHost(leaving); err != nil {
			t.Fatal(err)
		}
		if err := l.Undrain(leaving); err != nil {
			t.Fatal(err)
		}
		if err := l.WaitPaths(l.AllHosts(), 30*time.Second); err != nil {
			t.Fatalf("undrain: %v", err)
		}
	}
	return m
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// waitDelivered waits until the hosts have delivered want datagrams more
// than base, with no drop anywhere, and returns the counts.
func waitDelivered(t *testing.T, l *Lab, base []map[string]uint64, want int) []map[string]uint64 {
	t.Helper()
	var total uint64
	for _, m := range base {
		total += sum(m)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, drops, err := l.Delivered()
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for h, m := range cur {
			n += sum(m)
			if m == nil && base[h] != nil {
				n += sum(base[h]) // a host stopped since base: its counts are gone
			}
		}
		got := int(n - total)
		if got == want && drops == 0 {
			return cur
		}
		if got > want || drops > 0 || time.Now().After(deadline) {
			ld, _ := l.LinkDrops()
			t.Fatalf("delivered %d datagrams, want %d; xdpmux drops %d; router link tx drops %v", got, want, drops, ld)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
