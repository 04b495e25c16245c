package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/localgroup"
)

const labPrefix = "xmh3"

// rebindEvery is the pause before each rebinding. A quic-go server probes
// a new client address with one of the client's spare connection IDs
// (quic-go clients offer 3) and frees it only when the probe is done or
// abandoned, so rebindings much closer than this can find no spare ID and
// strand the connection on a dead address, with any pick policy
// (docs/QUIC.md); a NAT does not rebind that often.
const rebindEvery = 1500 * time.Millisecond

// startIn starts a server in the lab's receiving namespace; it is stopped
// when the test ends if the test has not stopped it.
func startIn(t testing.TB, lab *netlab.Lab, o options) *server {
	t.Helper()
	o.Iface = lab.RecvIf
	if !o.Listen.IsValid() {
		o.Listen = netip.AddrPortFrom(lab.RecvAddr, 443)
	}
	return labtest.StartInRecv(t, lab, func() (*server, error) { return start(o) }, (*server).close)
}

// clients opens n clients, each of one QUIC connection, and asks each
// whoami; it fails the test if any request fails.
func clients(t *testing.T, lab *netlab.Lab, n int) ([]*h3client, []int) {
	return recordedClients(t, lab, n, nil)
}

// recordedClients is clients with record(conn, port, datagram) called for
// every datagram a client sends.
func recordedClients(t *testing.T, lab *netlab.Lab, n int, record func(conn, port int, p []byte)) ([]*h3client, []int) {
	return clientsOf(t, lab, netip.AddrPortFrom(lab.RecvAddr, 443), n, record)
}

// clientsOf is recordedClients for the server at addr.
func clientsOf(t *testing.T, lab *netlab.Lab, addr netip.AddrPort, n int, record func(conn, port int, p []byte)) ([]*h3client, []int) {
	t.Helper()
	server := addr.String()
	cs := make([]*h3client, n)
	idx := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cs {
		var rec func(int, []byte)
		if record != nil {
			rec = func(port int, p []byte) { record(i, port, p) }
		}
		c, err := newH3Client(lab, server, rec)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
		t.Cleanup(c.close)
		wg.Add(1)
		go func() {
			defer wg.Done()
			idx[i], errs[i] = c.whoami()
		}()
		if i%8 == 7 {
			wg.Wait() // handshakes in small waves on a loaded machine
		}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("client %d: first request: %v", i, err)
		}
	}
	return cs, idx
}

// TestSpread: many connections through xdpmux, with every policy, spread
// over all members, and each connection keeps its member.
func TestSpread(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: labPrefix})
	for _, p := range []localgroup.Policy{localgroup.QUIC, localgroup.Threshold} {
		t.Run(p.String(), func(t *testing.T) {
			const members, conns = 4, 40
			s := startIn(t, lab, options{Members: members, Policy: p})
			cs, idx := clients(t, lab, conns)
			per := make([]int, members)
			for i, c := range cs {
				per[idx[i]]++
				again, err := c.whoami()
				if err != nil || again != idx[i] {
					t.Errorf("client %d: second request: member %d, %v, want member %d", i, again, err, idx[i])
				}
			}
			t.Logf("%v: connections per member %v", p, per)
			for m, n := range per {
				if n == 0 {
					t.Errorf("member %d served none of %d connections (%v)", m, conns, per)
				}
			}
			for _, c := range cs {
				c.close()
			}
			if err := s.close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// survival runs conns connections against a server started with o; each
// rebinds rebinds times (a new source port, rebindEvery apart), with a
// request after each.
// It returns the share of connections that kept working on their member.
func survival(t *testing.T, lab *netlab.Lab, o options, conns, rebinds int) float64 {
	t.Helper()
	s := startIn(t, lab, o)
	defer s.close()
	cs, idx := clients(t, lab, conns)
	survived := make([]bool, conns)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rebinds {
				time.Sleep(rebindEvery)
				if err := c.conn.Rebind(); err != nil {
					t.Errorf("client %d: rebind: %v", i, err)
					return
				}
				got, err := c.whoami()
				if err != nil || got != idx[i] {
					t.Logf("client %d: after rebinding %d (port %d): member %d, %v (was %d)", i, r+1, c.conn.Port(), got, err, idx[i])
					return
				}
			}
			survived[i] = true
		}()
	}
	wg.Wait()
	n := 0
	for _, ok := range survived {
		if ok {
			n++
		}
	}
	for _, c := range cs {
		c.close()
	}
	return float64(n) / float64(conns)
}

// TestRebindSurvival: a client whose source port changes keeps its
// connection and member under the quic policy, and loses it under
// threshold and on kernel SO_REUSEPORT sockets most of the time (each
// rebinding lands on the right member 1 time in 4).
func TestRebindSurvival(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: labPrefix})
	const members, conns = 4, 24
	tests := []struct {
		name    string
		o       options
		rebinds int
		atLeast float64
		below   float64
	}{
		{"quic", options{Members: members, Policy: localgroup.QUIC}, 1, 1, 1.01},
		{"quic", options{Members: members, Policy: localgroup.QUIC}, 3, 1, 1.01},
		{"threshold", options{Members: members, Policy: localgroup.Threshold}, 1, 0, 0.6},
		{"threshold", options{Members: members, Policy: localgroup.Threshold}, 3, 0, 0.5},
		{"kernel", options{Members: members, Kernel: true}, 1, 0, 0.6},
		{"kernel", options{Members: members, Kernel: true}, 3, 0, 0.5},
	}
	var table strings.Builder
	for _, tc := range tests {
		share := survival(t, lab, tc.o, conns, tc.rebinds)
		fmt.Fprintf(&table, "  %-10s %d rebinding(s): %3.0f%% of %d connections survived\n", tc.name, tc.rebinds, 100*share, conns)
		if share < tc.atLeast || share >= tc.below {
			t.Errorf("%s, %d rebindings: %.0f%% survived, want in [%.0f%%, %.0f%%)",
				tc.name, tc.rebinds, 100*share, 100*tc.atLeast, 100*tc.below)
		}
	}
	t.Logf("survival, %d members:\n%s", members, table.String())
}

// TestStopMember: stopping one member ends its own connections only; the
// others keep their connections and members.
func TestStopMember(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: labPrefix})
	const members, conns, victim = 3, 24, 1
	s := startIn(t, lab, options{Members: members, Policy: localgroup.QUIC})
	cs, idx := clients(t, lab, conns)
	if err := s.members[victim].stop(); err != nil {
		t.Fatalf("stop member %d: %v", victim, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	lost, kept := 0, 0
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A rebinding too: the survivors are routed by server ID, not
			// by a hash that the smaller group has changed.
			if err := c.conn.Rebind(); err != nil {
				t.Error(err)
				return
			}
			start := time.Now()
			got, err := c.whoami()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case idx[i] == victim && err == nil:
				t.Errorf("client %d of stopped member %d: request answered by member %d", i, victim, got)
			case idx[i] == victim:
				lost++
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("client %d: the lost connection took %v to fail", i, d)
				}
			case err != nil || got != idx[i]:
				t.Errorf("client %d of member %d: after stopping member %d: member %d, %v", i, idx[i], victim, got, err)
			default:
				kept++
			}
		}()
	}
	wg.Wait()
	t.Logf("stopped member %d: %d connections lost, %d kept", victim, lost, kept)
	if lost == 0 || kept == 0 {
		t.Errorf("lost %d, kept %d: want both (connections per member %v)", lost, kept, idx)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestSIGINT: the command serves /whoami with -kernel and xdpmux, and
// SIGINT stops it cleanly (status 0, every member closed).
func TestSIGINT(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 1, Prefix: labPrefix})
	listen := netip.AddrPortFrom(lab.RecvAddr, 443).String()
	for _, args := range [][]string{
		{"-iface", lab.RecvIf, "-listen", listen, "-members", "2"},
		{"-kernel", "-listen", listen, "-members", "2", "-policy", "threshold"},
	} {
		var out, errb syncBuffer
		status := make(chan int, 1)
		go lab.InRecv(func() error {
			status <- run(args, &out, &errb)
			return nil
		})
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "serving") {
			if time.Now().After(deadline) {
				t.Fatalf("%q: not serving after 20 s: %s %s", args, out.String(), errb.String())
			}
			select {
			case st := <-status:
				t.Fatalf("%q: exited %d: %s", args, st, errb.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		cs, _ := clients(t, lab, 2)
		for _, c := range cs {
			c.close()
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case st := <-status:
			if st != 0 || !strings.Contains(out.String(), "h3server: stopped") {
				t.Errorf("%q: status %d, stdout %q, stderr %q; want 0 and stopped", args, st, out.String(), errb.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%q: still running 20 s after SIGINT", args)
		}
	}
}
