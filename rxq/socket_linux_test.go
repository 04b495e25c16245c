package rxq_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

const udpPort = 7777

// payload i: 8-byte sequence number, then (i % 200) bytes of a pattern
// derived from i.
func payload(i int) []byte {
	b := make([]byte, 8+i%200)
	binary.BigEndian.PutUint64(b, uint64(i))
	for j := 8; j < len(b); j++ {
		b[j] = byte(i*7 + j)
	}
	return b
}

// TestSocketReceive binds a socket on each of the lab's two queues, sends
// datagrams with varied source ports, and checks that every one arrives
// exactly once with the right bytes, on both queues, and that every frame
// is accounted for afterwards.
func TestSocketReceive(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			testReceive(t, shared)
		})
	}
}

func testReceive(t *testing.T, shared bool) {
	const count = 2000
	lab := labtest.NewLab(t, netlab.Config{Queues: 2})
	var prog *xdpprog.Program
	socks := make([]*rxq.Socket, 2)
	closeAll := func() {
		for _, s := range socks {
			if s != nil {
				s.Close()
			}
		}
		if prog != nil {
			prog.Close()
		}
	}
	t.Cleanup(closeAll)
	err := lab.InRecv(func() error {
		var err error
		if prog, err = xdpprog.Attach(lab.RecvIndex, xdpprog.Options{}); err != nil {
			return err
		}
		if err := prog.Claim(xdpprog.ProtoUDP, lab.RecvAddr, udpPort); err != nil {
			return err
		}
		for q := range socks {
			o := rxq.DefaultSocketOptions()
			if shared {
				if q == 0 {
					o.NumFrames = 8192
				} else {
					o.SharedUMEM = socks[0]
				}
			}
			if socks[q], err = rxq.OpenQueue(lab.RecvIf, q, &o); err != nil {
				return err
			}
			if err := prog.Register(q, socks[q].FD()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("setup in %s: %v", lab.RecvNS, err)
	}
	for q, s := range socks {
		t.Logf("queue %d: %v", q, s)
		if s.Mode() != rxq.ModeCopy {
			t.Errorf("queue %d: mode %v, want copy on veth", q, s.Mode())
		}
		fs := s.FrameStats()
		if fs.Total != 4096 || fs.Fill+fs.Free != fs.Total || fs.RX != 0 {
			t.Errorf("queue %d: FrameStats after setup %+v, want 4096 frames in fill ring and free list", q, fs)
		}
	}

	var (
		seen     [count]atomic.Int32
		received atomic.Int64
		perQueue [2]int
		bad      = make(chan string, 10)
		wg       sync.WaitGroup
		stop     atomic.Bool
	)
	for q, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			descs := make([]rxq.Desc, rxq.BatchSize)
			addrs := make([]uint64, 0, rxq.BatchSize)
			for !stop.Load() {
				if err := s.Wait(50 * time.Millisecond); err != nil {
					bad <- fmt.Sprintf("queue %d: Wait: %v", q, err)
					return
				}
				n := s.Receive(descs)
				addrs = addrs[:0]
				for _, d := range descs[:n] {
					if msg := checkFrame(s.Frame(d), &seen); msg != "" {
						select {
						case bad <- fmt.Sprintf("queue %d: %s", q, msg):
						default:
						}
					}
					addrs = append(addrs, d.Addr)
				}
				s.Recycle(addrs)
				perQueue[q] += n
				if received.Add(int64(n)) >= count {
					stop.Store(true)
					for _, o := range socks {
						o.Wake()
					}
				}
			}
		}()
	}
	ports := make([]uint16, 64)
	for i := range ports {
		ports[i] = uint16(40000 + i)
	}
	sendErr := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, udpPort), ports, payload, count)
	deadline := time.AfterFunc(10*time.Second, func() {
		stop.Store(true)
		for _, s := range socks {
			s.Wake()
		}
	})
	wg.Wait()
	deadline.Stop()
	close(bad)
	if sendErr != nil {
		t.Fatalf("SendUDP: %v", sendErr)
	}
	for msg := range bad {
		t.Error(msg)
	}
	missing := 0
	for i := range seen {
		switch c := seen[i].Load(); {
		case c == 0:
			missing++
		case c > 1:
			t.Errorf("datagram %d received %d times", i, c)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d datagrams missing (received %d)", missing, count, received.Load())
	}
	for q, n := range perQueue {
		if n == 0 {
			t.Errorf("queue %d received nothing: traffic not spread", q)
		}
	}
	t.Logf("per queue: %v", perQueue)
	for q, s := range socks {
		fs := s.FrameStats()
		if fs.Fill+fs.RX+fs.Free != fs.Total || fs.Total != 4096 {
			t.Errorf("queue %d: FrameStats %+v: fill+rx+free != total 4096 (all frames recycled)", q, fs)
		}
		st, err := s.Stats()
		if err != nil {
			t.Fatalf("queue %d: Stats: %v", q, err)
		}
		if st.RxDropped != 0 || st.RxRingFull != 0 || st.RxInvalidDescs != 0 {
			t.Errorf("queue %d: Stats %+v, want no drops", q, st)
		}
		t.Logf("queue %d: %+v %+v", q, fs, st)
	}

	// Close: idempotent, and everything after reports ErrClosed.
	for _, s := range socks {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := s.Wait(0); !errors.Is(err, rxq.ErrClosed) {
			t.Errorf("Wait after Close: %v, want ErrClosed", err)
		}
		if _, err := s.Stats(); !errors.Is(err, rxq.ErrClosed) {
			t.Errorf("Stats after Close: %v, want ErrClosed", err)
		}
		if n := s.Receive(make([]rxq.Desc, 4)); n != 0 {
			t.Errorf("Receive after Close = %d", n)
		}
		s.Wake()
	}
	if err := prog.Close(); err != nil {
		t.Errorf("prog.Close: %v", err)
	}
	prog = nil
	if err := lab.InRecv(func() error {
		on, err := xdpprog.Attached(lab.RecvIndex)
		if err == nil && on {
			err = errors.New("XDP program still attached after Close")
		}
		return err
	}); err != nil {
		t.Error(err)
	}
}

// checkFrame checks an Ethernet/IPv4/UDP frame carrying payload(i) and
// marks i seen.
func checkFrame(f []byte, seen *[2000]atomic.Int32) string {
	if len(f) < 42+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[14] != 0x45 || f[23] != 17 {
		return fmt.Sprintf("not a UDP/IPv4 frame: % x", f[:min(len(f), 42)])
	}
	if dp := binary.BigEndian.Uint16(f[36:]); dp != udpPort {
		return fmt.Sprintf("destination port %d, want %d", dp, udpPort)
	}
	p := f[42:]
	i := binary.BigEndian.Uint64(p)
	if i >= uint64(len(seen)) {
		return fmt.Sprintf("sequence %d out of range", i)
	}
	if want := payload(int(i)); string(p) != string(want) {
		return fmt.Sprintf("datagram %d: %d payload bytes differ from the %d sent", i, len(p), len(want))
	}
	seen[i].Add(1)
	return ""
}

// TestWaitWakeClose checks that Wake ends a pending Wait, that a Wake before
// Wait makes it return at once, and that Close from another goroutine ends a
// Wait with ErrClosed.
// TestSocketBusyPoll checks that the kernel busy-poll options reach the
// socket (SO_BUSY_POLL_BUDGET has no getsockopt: its setsockopt must have
// succeeded), that a socket without them keeps the kernel's defaults, and that
// Wait (which then drives a busy-poll round before parking) still times
// out and wakes.
func TestSocketBusyPoll(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 1})
	tests := []struct {
		name       string
		prefer     bool
		us, budget int
	}{
		{name: "unset"},
		{name: "all", prefer: true, us: 20, budget: 64},
		{name: "prefer only", prefer: true},
		{name: "budget only", budget: 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := rxq.DefaultSocketOptions()
			o.PreferBusyPoll, o.BusyPollUs, o.BusyPollBudget = tc.prefer, tc.us, tc.budget
			var s *rxq.Socket
			if err := lab.InRecv(func() (err error) {
				s, err = rxq.OpenQueue(lab.RecvIf, 0, &o)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			prefer, us, err := rxq.BusyPollOf(s)
			if err != nil {
				t.Fatal(err)
			}
			if prefer != tc.prefer || us != tc.us {
				t.Errorf("got prefer %v, SO_BUSY_POLL %d; want %v, %d", prefer, us, tc.prefer, tc.us)
			}
			start := time.Now()
			if err := s.Wait(30 * time.Millisecond); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if d := time.Since(start); d < 25*time.Millisecond || d > 2*time.Second {
				t.Errorf("Wait(30ms) on an idle socket returned after %v", d)
			}
			s.Wake()
			if err := s.Wait(5 * time.Second); err != nil {
				t.Errorf("Wait after Wake: %v", err)
			}
		})
	}
}

func TestWaitWakeClose(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 1})
	var s *rxq.Socket
	if err := lab.InRecv(func() (err error) {
		s, err = rxq.OpenQueue(lab.RecvIf, 0, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	start := time.Now()
	if err := s.Wait(30 * time.Millisecond); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Errorf("Wait(30ms) on an idle socket returned after %v", d)
	}
	s.Wake()
	start = time.Now()
	if err := s.Wait(5 * time.Second); err != nil || time.Since(start) > 2*time.Second {
		t.Errorf("Wait after Wake: %v after %v, want nil at once", err, time.Since(start))
	}
	done := make(chan error)
	go func() { done <- s.Wait(-1) }()
	time.Sleep(20 * time.Millisecond)
	s.Wake()
	if err := <-done; err != nil {
		t.Errorf("Wait woken: %v", err)
	}
	go func() { done <- s.Wait(-1) }()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, rxq.ErrClosed) {
			t.Errorf("Wait ended by Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a pending Wait")
	}
}

func TestOpenQueueErrors(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2})
	err := lab.InRecv(func() error {
		_, err := rxq.OpenQueue("nosuchif0", 0, nil)
		if !errors.Is(err, rxq.ErrNoInterface) || !strings.Contains(err.Error(), `interface "nosuchif0": not found`) {
			return fmt.Errorf("unknown interface: got %v", err)
		}
		_, err = rxq.OpenQueue(lab.RecvIf, 5, nil)
		if !errors.Is(err, rxq.ErrNoQueue) || !strings.Contains(err.Error(), "queue 5") ||
			!strings.Contains(err.Error(), "2 rx queues") {
			return fmt.Errorf("queue 5 of 2: got %v", err)
		}
		o := rxq.DefaultSocketOptions()
		o.ZeroCopy = rxq.ZeroCopyForce
		_, err = rxq.OpenQueue(lab.RecvIf, 0, &o)
		if !errors.Is(err, rxq.ErrNotSupported) {
			return fmt.Errorf("forced zero-copy on veth: got %v, want ErrNotSupported", err)
		}
		// The failed attempts left the queue usable.
		s, err := rxq.OpenQueue(lab.RecvIf, 0, nil)
		if err != nil {
			return fmt.Errorf("open after failures: %v", err)
		}
		return s.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// xskMappings counts the mappings a socket makes: its rings, mapped from the
// socket (named "socket:[inode]" in /proc/self/maps), and anonymous areas of
// exactly umemSize bytes. Counting these rather than the total mapped size
// keeps the Go runtime's (and the race detector's) own growth out of it.
func xskMappings(t *testing.T, umemSize uint64) (rings, umems int) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var lo, hi uint64
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err != nil {
			continue
		}
		fields := strings.Fields(line)
		name := ""
		if len(fields) >= 6 {
			name = fields[5]
		}
		switch {
		case strings.HasPrefix(name, "socket:"):
			rings++
		case name == "" && hi-lo == umemSize:
			umems++
		}
	}
	return rings, umems
}

// TestNoLeaks opens and closes sockets (and fails to open some) and checks
// that no fd or mapping outlives them.
func TestNoLeaks(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2})
	// Warm up the lab's and the runtime's own fds and mappings.
	if err := lab.InRecv(func() error {
		s, err := rxq.OpenQueue(lab.RecvIf, 0, nil)
		if err != nil {
			return err
		}
		return s.Close()
	}); err != nil {
		t.Fatal(err)
	}
	def := rxq.DefaultSocketOptions()
	umemSize := uint64(def.NumFrames * def.FrameSize)
	fds := countFDs(t)
	rings, umems := xskMappings(t, umemSize)
	if err := lab.InRecv(func() error {
		for i := range 10 {
			a, err := rxq.OpenQueue(lab.RecvIf, 0, nil)
			if err != nil {
				return fmt.Errorf("round %d: %w", i, err)
			}
			o := rxq.DefaultSocketOptions()
			o.SharedUMEM = a
			o.NumFrames = 64 // a has none free: must fail and unwind
			if _, err := rxq.OpenQueue(lab.RecvIf, 1, &o); err == nil {
				return errors.New("sharing a UMEM with no free frames succeeded")
			}
			o.ZeroCopy = rxq.ZeroCopyForce
			o.SharedUMEM = nil
			if _, err := rxq.OpenQueue(lab.RecvIf, 1, &o); err == nil {
				return errors.New("forced zero-copy on veth succeeded")
			}
			if err := a.Close(); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Each round maps a UMEM and rings; a leak would leave them behind.
	if f := countFDs(t); f != fds {
		t.Errorf("after 10 rounds: %d fds, was %d", f, fds)
	}
	if r, u := xskMappings(t, umemSize); r != rings || u != umems {
		t.Errorf("after 10 rounds: %d ring and %d UMEM mappings, was %d and %d", r, u, rings, umems)
	}
}
