package rxq_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// waitPort is the UDP port the Wait tests claim.
const waitPort = 7788

// claimedSocket opens a one-queue lab with the XDP program attached,
// waitPort claimed and a socket (opts; nil: defaults) registered on queue
// 0. Everything is released in t.Cleanup.
func claimedSocket(t *testing.T, opts *rxq.SocketOptions) (*rxq.Socket, *net.UDPConn, netip.AddrPort) {
	t.Helper()
	lab := labtest.NewLab(t, netlab.Config{Queues: 1})
	var prog *xdpprog.Program
	var s *rxq.Socket
	t.Cleanup(func() {
		if s != nil {
			s.Close()
		}
		if prog != nil {
			prog.Close()
		}
	})
	if err := lab.InRecv(func() (err error) {
		if prog, err = xdpprog.Attach(lab.RecvIndex, xdpprog.Options{}); err != nil {
			return err
		}
		if err := prog.Claim(xdpprog.ProtoUDP, lab.RecvAddr, waitPort); err != nil {
			return err
		}
		if s, err = rxq.OpenQueue(lab.RecvIf, 0, opts); err != nil {
			return err
		}
		return prog.Register(0, s.FD())
	}); err != nil {
		t.Fatalf("setup in %s: %v", lab.RecvNS, err)
	}
	var c *net.UDPConn
	if err := lab.InSend(func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lab.SendAddr, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c, netip.AddrPortFrom(lab.RecvAddr, waitPort)
}

// checkGoroutines fails t if more goroutines run than before, after
// giving exiting ones a moment.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	for range 200 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Errorf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), before,
		buf[:runtime.Stack(buf, true)])
}

// TestWaitFrameArrives parks Wait on an idle socket, then sends frames,
// round after round: every round's Wait must end because of the frames
// (not its long timeout). Rounds that leave frames in the RX ring check
// the edge-triggered trap: the next Wait must return at once, with no new
// frame to signal.
func TestWaitFrameArrives(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	s, c, dst := claimedSocket(t, nil)
	before := runtime.NumGoroutine()
	const rounds = 200
	descs := make([]rxq.Desc, rxq.BatchSize)
	addrs := make([]uint64, 0, rxq.BatchSize)
	msg := make([]byte, 16)
	var slow []time.Duration
	for r := range rounds {
		burst := 1 + r%3
		done := make(chan error, 1)
		go func() { done <- s.Wait(5 * time.Second) }()
		if r%2 == 0 {
			time.Sleep(time.Millisecond) // let Wait park
		}
		start := time.Now()
		for i := range burst {
			binary.BigEndian.PutUint64(msg, uint64(r<<8|i))
			if _, err := c.WriteToUDPAddrPort(msg, dst); err != nil {
				t.Fatalf("round %d: send: %v", r, err)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("round %d: Wait: %v", r, err)
		}
		if d := time.Since(start); d > time.Second {
			slow = append(slow, d)
		}
		// Take the burst one frame at a time, each after a Wait that must
		// not block: the frames are already in the ring.
		for got := 0; got < burst; {
			start := time.Now()
			if err := s.Wait(5 * time.Second); err != nil {
				t.Fatalf("round %d: Wait with frames pending: %v", r, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("round %d: Wait with %d of %d frames taken blocked %v", r, got, burst, d)
			}
			n := s.Receive(descs[:1])
			addrs = addrs[:0]
			for _, d := range descs[:n] {
				addrs = append(addrs, d.Addr)
			}
			s.Recycle(addrs)
			got += n
		}
	}
	if len(slow) > 0 {
		t.Errorf("%d of %d Waits ended long after their frames were sent: %v", len(slow), rounds, slow)
	}
	if fs := s.FrameStats(); fs.Fill+fs.Free != fs.Total || fs.RX != 0 {
		t.Errorf("FrameStats %+v: want every frame back", fs)
	}
	st, err := s.Stats()
	if err != nil || st.RxDropped != 0 {
		t.Errorf("Stats %+v, %v: want no drops", st, err)
	}
	checkGoroutines(t, before)
}

// TestWaitTimeout checks that Wait on an idle socket returns nil once its
// timeout has passed.
func TestWaitTimeout(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	s, _, _ := claimedSocket(t, nil)
	for _, timeout := range []time.Duration{0, time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond} {
		t.Run(timeout.String(), func(t *testing.T) {
			for range 3 {
				start := time.Now()
				if err := s.Wait(timeout); err != nil {
					t.Fatalf("Wait(%v): %v, want nil", timeout, err)
				}
				if d := time.Since(start); d < timeout {
					t.Errorf("Wait(%v) returned after %v", timeout, d)
				}
			}
		})
	}
}

// TestWaitTXOnly checks that Wait on a socket without an RX ring returns
// at once while its TX ring has room.
func TestWaitTXOnly(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	o := rxq.DefaultSocketOptions()
	o.RXRingSize = 0
	o.TXRingSize = 64
	s, _, _ := claimedSocket(t, &o)
	start := time.Now()
	if err := s.Wait(5 * time.Second); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Wait with an empty TX ring blocked %v", d)
	}
}

// TestWaitWakeParked checks that Wake ends a parked Wait with nil, that a
// Wake before Wait is not lost, and that Wakes racing Waits neither lose a
// Wait nor leak goroutines.
func TestWaitWakeParked(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	s, _, _ := claimedSocket(t, nil)
	before := runtime.NumGoroutine()
	for _, timeout := range []time.Duration{-1, time.Hour} {
		done := make(chan error, 1)
		go func() { done <- s.Wait(timeout) }()
		time.Sleep(20 * time.Millisecond)
		s.Wake()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Wait(%v) woken: %v, want nil", timeout, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Wake did not end Wait(%v)", timeout)
		}
	}

	// Racing: a waker keeps waking while the waiter waits without limit;
	// the waiter must get through all its rounds.
	const rounds = 2000
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.Wake()
			runtime.Gosched()
		}
	}()
	finished := make(chan error, 1)
	go func() {
		for r := range rounds {
			if err := s.Wait(-1); err != nil {
				finished <- fmt.Errorf("round %d: %w", r, err)
				return
			}
		}
		finished <- nil
	}()
	select {
	case err := <-finished:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(20 * time.Second):
		t.Error("Waits racing Wakes got stuck")
	}
	close(stop)
	wg.Wait()
	s.Wake() // the waker's last Wake may be pending: consume it
	s.Wait(0)
	checkGoroutines(t, before)
}

// TestWaitCloseParked closes a socket while Waits of every kind are parked
// on it: each must return ErrClosed, and the socket's fd must be gone.
func TestWaitCloseParked(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	for _, timeout := range []time.Duration{-1, time.Hour, 50 * time.Millisecond} {
		t.Run(timeout.String(), func(t *testing.T) {
			s, _, _ := claimedSocket(t, nil)
			before := runtime.NumGoroutine()
			fd := s.FD()
			done := make(chan error, 1)
			go func() {
				for {
					// A short timeout loops, as the worker does, until
					// Close ends it.
					if err := s.Wait(timeout); err != nil {
						done <- err
						return
					}
				}
			}()
			time.Sleep(20 * time.Millisecond)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, rxq.ErrClosed) {
					t.Errorf("Wait ended by Close: %v, want ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not end a parked Wait")
			}
			if err := s.Wait(-1); !errors.Is(err, rxq.ErrClosed) {
				t.Errorf("Wait after Close: %v, want ErrClosed", err)
			}
			s.Wake()
			if _, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil {
				// The number may have been reused by another test's
				// socket; only an AF_XDP socket of ours would be a leak.
				t.Logf("fd %d reused after Close", fd)
			}
			checkGoroutines(t, before)
		})
	}
}

// TestWaitAllocs checks that Wait and Wake allocate nothing.
func TestWaitAllocs(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	s, _, _ := claimedSocket(t, nil)
	cases := []struct {
		name string
		fn   func()
	}{
		{"Wait(0)", func() { s.Wait(0) }},
		{"Wake+Wait", func() { s.Wake(); s.Wait(time.Second) }},
		{"Wait(timeout)", func() { s.Wait(50 * time.Microsecond) }},
	}
	for _, c := range cases {
		if a := testing.AllocsPerRun(50, c.fn); a != 0 {
			t.Errorf("%s: %v allocs per run, want 0", c.name, a)
		}
	}
}

// TestWaitPingPong measures the round trip of one UDP datagram echoed by a
// goroutine that waits, receives, rewrites the frame in place into the
// answer and transmits it: the latency of waking a parked waiter. It also
// measures the CPU the process uses while the echo goroutine idles in
// Wait. It only logs figures, and runs with XDPMUX_PINGPONG=1.
func TestWaitPingPong(t *testing.T) {
	if os.Getenv("XDPMUX_PINGPONG") != "1" {
		t.Skip("set XDPMUX_PINGPONG=1 to measure")
	}
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	o := rxq.DefaultSocketOptions()
	o.TXRingSize = 256
	s, c, dst := claimedSocket(t, &o)
	done := make(chan struct{})
	go func() {
		defer close(done)
		echo(s)
	}()
	t.Cleanup(func() { s.Close(); <-done })

	rtt := func(n int, gap time.Duration) []time.Duration {
		buf := make([]byte, 64)
		var d []time.Duration
		for i := range n {
			binary.BigEndian.PutUint64(buf, uint64(i))
			start := time.Now()
			if _, err := c.WriteToUDPAddrPort(buf[:16], dst); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			for {
				m, _, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if m == 16 && binary.BigEndian.Uint64(buf) == uint64(i) {
					break
				}
			}
			d = append(d, time.Since(start))
			time.Sleep(gap)
		}
		return d
	}
	rtt(200, 0) // warm up
	for _, gap := range []time.Duration{0, time.Millisecond} {
		d := rtt(3000, gap)
		slices.Sort(d)
		p := func(q float64) time.Duration { return d[int(q*float64(len(d)-1))] }
		t.Logf("GOMAXPROCS %d, gap %v: rtt p50 %v p90 %v p99 %v max %v (%d)",
			runtime.GOMAXPROCS(0), gap, p(0.5), p(0.9), p(0.99), d[len(d)-1], len(d))
	}
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	const idle = 3 * time.Second
	time.Sleep(idle)
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()) + time.Duration(r1.Stime.Nano()-r0.Stime.Nano())
	t.Logf("idle %v: process CPU %v (%.2f%%), voluntary context switches %d",
		idle, cpu, 100*cpu.Seconds()/idle.Seconds(), r1.Nvcsw-r0.Nvcsw)
}

// echo answers every UDP/IPv4 frame received on s with its payload,
// swapping addresses and ports in place, until s is closed.
func echo(s *rxq.Socket) {
	descs := make([]rxq.Desc, rxq.BatchSize)
	for {
		if err := s.Wait(100 * time.Millisecond); err != nil {
			return
		}
		n := s.Receive(descs)
		for i := range descs[:n] {
			f := s.Frame(descs[i])
			var mac [6]byte
			copy(mac[:], f[0:6])
			copy(f[0:6], f[6:12])
			copy(f[6:12], mac[:])
			var a [4]byte
			copy(a[:], f[26:30])
			copy(f[26:30], f[30:34])
			copy(f[30:34], a[:])
			var p [2]byte
			copy(p[:], f[34:36])
			copy(f[34:36], f[36:38])
			copy(f[36:38], p[:])
			// veth offloads the sender's UDP checksum: the frame carries
			// only the pseudo-header sum. Send none (IPv4 allows it).
			f[40], f[41] = 0, 0
		}
		if n > 0 {
			if m := s.Transmit(descs[:n]); m < n {
				for _, d := range descs[m:n] {
					s.FreeFrame(d.Addr)
				}
			}
		}
		s.Complete()
		s.Recycle(nil)
	}
}
