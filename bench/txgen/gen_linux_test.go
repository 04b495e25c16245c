package txgen

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// rig is a netlab lab with the XDP program on the receiving end, dropping
// and counting the frames for one UDP port.
type rig struct {
	lab  *netlab.Lab
	prog *xdpprog.Program
	dst  netip.AddrPort
}

func newRig(t testing.TB, queues int) *rig {
	t.Helper()
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: queues})
	r := &rig{lab: lab, dst: netip.AddrPortFrom(lab.RecvAddr, 4242)}
	if err := lab.InRecv(func() (err error) {
		r.prog, err = xdpprog.Attach(lab.RecvIndex, xdpprog.Options{DropClaimed: true})
		return err
	}); err != nil {
		t.Fatalf("attach xdp: %v", err)
	}
	t.Cleanup(func() { r.prog.Close() })
	if err := r.prog.Claim(xdpprog.ProtoUDP, r.dst.Addr(), r.dst.Port()); err != nil {
		t.Fatal(err)
	}
	return r
}

// dropped returns the claimed frames the program dropped, per queue.
func (r *rig) dropped(t testing.TB) map[int]uint64 {
	t.Helper()
	cs, err := r.prog.Counters()
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]uint64{}
	for _, c := range cs {
		m[c.Queue] += c.Dropped
	}
	return m
}

// newGen builds a generator inside the lab's sending namespace.
func (r *rig) newGen(t testing.TB, cfg Config) *Generator {
	t.Helper()
	cfg.Ifname = r.lab.SendIf
	cfg.Dst = r.dst
	cfg.Logf = t.Logf
	var g *Generator
	if err := r.lab.InSend(func() (err error) {
		g, err = New(cfg)
		return err
	}); err != nil {
		t.Fatalf("New(%s): %v", cfg.Backend, err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return g
}

// TestGenExact sends a fixed count with each backend at a modest rate and
// checks that the XDP program on the receiver counted exactly that many,
// on both queues.
func TestGenExact(t *testing.T) {
	const count = 20000
	for _, b := range []Backend{AFXDP, AFPacket} {
		t.Run(b.String(), func(t *testing.T) {
			r := newRig(t, 2)
			g := r.newGen(t, Config{Backend: b, Count: count, Rate: 50000, Flows: 64})
			if g.Backend() != b.String() {
				t.Errorf("backend %q, want %q", g.Backend(), b)
			}
			st, err := g.Run(context.Background(), nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if st.Sent != count || st.Errors != 0 {
				t.Errorf("Run: %+v, want %d sent, 0 errors", st, count)
			}
			var got uint64
			var per map[int]uint64
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
				per = r.dropped(t)
				got = 0
				for _, n := range per {
					got += n
				}
				if got >= count {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got != count {
				t.Errorf("receiver counted %d (per queue %v), want %d", got, per, count)
			}
			if per[0] == 0 || per[1] == 0 {
				t.Errorf("per-queue counts %v: want traffic on both queues", per)
			}
			t.Logf("%s: %+v, %.0f pps, per queue %v", b, st, st.PPS(), per)
		})
	}
}

// TestGenAuto checks that Auto picks AF_XDP where it works, and that a
// Duration stops Run and progress is reported.
func TestGenAuto(t *testing.T) {
	r := newRig(t, 2)
	g := r.newGen(t, Config{Rate: 20000, Duration: 1500 * time.Millisecond})
	if g.Backend() != "afxdp" {
		t.Errorf("backend %q, want afxdp", g.Backend())
	}
	goroutines := runtime.NumGoroutine()
	var calls int
	st, err := g.Run(context.Background(), func(s Stats) {
		calls++
		if s.Backend != "afxdp" {
			t.Errorf("progress backend %q", s.Backend)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls < 1 {
		t.Errorf("progress called %d times in %v", calls, st.Elapsed)
	}
	if st.Elapsed < 1500*time.Millisecond || st.Sent == 0 {
		t.Errorf("Run: %+v", st)
	}
	// Goroutines that Run started may still be returning: give them a
	// moment before calling one a leak.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Run, %d before:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
	}
	// Run again on the same sockets; a cancelled context stops it at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Run(ctx, nil); err != nil {
		t.Errorf("second Run: %v", err)
	}
}

// TestGenNoNeighbour: with no neighbour entry for the destination, New
// says so.
func TestGenNoNeighbour(t *testing.T) {
	r := newRig(t, 1)
	err := r.lab.InSend(func() error {
		_, err := New(Config{Ifname: r.lab.SendIf, Dst: netip.MustParseAddrPort("198.19.1.1:9")})
		return err
	})
	if err == nil || !errors.Is(err, ErrNoNeighbour) {
		t.Fatalf("New: %v, want %v", err, ErrNoNeighbour)
	}
}

// TestSendLoopAllocs checks that each backend's send loop, stamping and
// all, allocates nothing per batch.
func TestSendLoopAllocs(t *testing.T) {
	for _, b := range []Backend{AFXDP, AFPacket} {
		t.Run(b.String(), func(t *testing.T) {
			r := newRig(t, 1)
			g := r.newGen(t, Config{Backend: b, Flows: 16})
			s := g.senders[0]
			var stop atomic.Bool
			var c counters
			p := newPacer(0, 64)
			const perRun = 4 * 64
			n := testing.AllocsPerRun(20, func() {
				if err := s.run(&stop, perRun, &p, &c); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Errorf("%v allocations per %d frames, want 0", n, perRun)
			}
			if got, want := c.sent.Load(), uint64(21*perRun); got != want || c.errors.Load() != 0 {
				t.Errorf("sent %d errors %d, want %d and 0", got, c.errors.Load(), want)
			}
		})
	}
}

// TestGenThroughput measures the maximum rate of each backend in the lab
// (XDPMUX_BENCH=1; XDPMUX_BENCH_SECONDS, default 3). Figures only.
func TestGenThroughput(t *testing.T) {
	if os.Getenv("XDPMUX_BENCH") != "1" {
		t.Skip("benchmark: set XDPMUX_BENCH=1 to run")
	}
	secs, _ := strconv.Atoi(os.Getenv("XDPMUX_BENCH_SECONDS"))
	if secs <= 0 {
		secs = 3
	}
	for _, size := range []int{64, 1514} {
		for _, b := range []Backend{AFXDP, AFPacket} {
			t.Run(fmt.Sprintf("%s/%d", b, size), func(t *testing.T) {
				r := newRig(t, 2)
				g := r.newGen(t, Config{Backend: b, Size: size, Duration: time.Duration(secs) * time.Second})
				st, err := g.Run(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
				var got uint64
				for _, n := range r.dropped(t) {
					got += n
				}
				t.Logf("%-8s size %4d: sent %d in %v = %.0f pps, errors %d, received by XDP %d (%.0f pps)",
					b, size, st.Sent, st.Elapsed.Round(time.Millisecond), st.PPS(), st.Errors,
					got, float64(got)/st.Elapsed.Seconds())
			})
		}
	}
}
