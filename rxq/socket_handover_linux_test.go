package rxq_test

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// TestSocketHandover fills a socket's rx ring, hands the socket over
// (Handover, then AdoptSocket on duplicated descriptors, as another process
// gets them over SCM_RIGHTS), closes the original, and checks that the
// adopted socket receives every frame that was on the ring, intact, and
// then frames sent afterwards.
func TestSocketHandover(t *testing.T) {
	const count = 2000
	lab := labtest.NewLab(t, netlab.Config{Queues: 1, Prefix: "xh"})
	var (
		prog *xdpprog.Program
		old  *rxq.Socket
	)
	if err := lab.InRecv(func() (err error) {
		if prog, err = xdpprog.Attach(lab.RecvIndex, xdpprog.Options{}); err != nil {
			return err
		}
		if err := prog.Claim(xdpprog.ProtoUDP, lab.RecvAddr, udpPort); err != nil {
			return err
		}
		if old, err = rxq.OpenQueue(lab.RecvIf, 0, nil); err != nil {
			return err
		}
		return prog.Register(0, old.FD())
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close(); prog.Close() })
	ports := []uint16{40000, 40001, 40002, 40003}
	if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, udpPort), ports, payload, count/2); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); old.FrameStats().RX < count/2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("rx ring holds %d frames, want %d", old.FrameStats().RX, count/2)
		}
	}
	st, err := old.Handover()
	if err != nil {
		t.Fatal(err)
	}
	xfd, err := unix.Dup(old.FD())
	if err != nil {
		t.Fatal(err)
	}
	ufd, err := unix.Dup(old.UMEMFD())
	if err != nil {
		t.Fatal(err)
	}
	s, err := rxq.AdoptSocket(st, xfd, ufd)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := old.Close(); err != nil { // unmaps the old UMEM mapping and rings
		t.Fatal(err)
	}
	if fs := s.FrameStats(); fs.RX != count/2 || fs.Total != st.NumFrames {
		t.Errorf("adopted FrameStats %+v, want %d on the rx ring of %d", fs, count/2, st.NumFrames)
	}
	var seen [count]atomic.Int32
	got := 0
	descs := make([]rxq.Desc, rxq.BatchSize)
	recv := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); got < want; {
			if time.Now().After(deadline) {
				t.Fatalf("adopted socket received %d frames, want %d", got, want)
			}
			s.Wait(50 * time.Millisecond)
			n := s.Receive(descs)
			addrs := make([]uint64, 0, n)
			for _, d := range descs[:n] {
				if msg := checkFrame(s.Frame(d), &seen); msg != "" {
					t.Fatal(msg)
				}
				addrs = append(addrs, d.Addr)
			}
			s.Recycle(addrs)
			got += n
		}
	}
	recv(count / 2)
	// The kernel goes on receiving into the adopted fill ring.
	second := func(i int) []byte { return payload(i + count/2) }
	if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, udpPort), ports, second, count/2); err != nil {
		t.Fatal(err)
	}
	recv(count)
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Fatalf("frame %d seen %d times, want once", i, n)
		}
	}
	if fs := s.FrameStats(); fs.Fill+fs.Free+fs.RX != fs.Total {
		t.Errorf("adopted socket's frames %+v do not add up", fs)
	}
}
