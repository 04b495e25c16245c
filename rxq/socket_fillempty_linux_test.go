package rxq_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// TestSocketFillEmpty starves a socket's fill ring (64 frames, none ever
// taken off the rx ring) and checks that FillEmpty reads the kernel's
// rx_fill_ring_empty_descs: 0 before traffic, growing after, equal to what
// Stats reports, and 0 once the socket is closed.
func TestSocketFillEmpty(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	const (
		frames = 64
		count  = 400
		port   = 7787
	)
	lab := labtest.NewLab(t, netlab.Config{Queues: 1})
	var (
		prog *xdpprog.Program
		sock *rxq.Socket
	)
	t.Cleanup(func() {
		if sock != nil {
			sock.Close()
		}
		if prog != nil {
			prog.Close()
		}
	})
	err := lab.InRecv(func() error {
		var err error
		if prog, err = xdpprog.Attach(lab.RecvIndex, xdpprog.Options{}); err != nil {
			return err
		}
		if err := prog.Claim(xdpprog.ProtoUDP, lab.RecvAddr, port); err != nil {
			return err
		}
		o := rxq.DefaultSocketOptions()
		o.NumFrames, o.FillRingSize, o.CompletionRingSize = frames, frames, frames
		if sock, err = rxq.OpenQueue(lab.RecvIf, 0, &o); err != nil {
			return err
		}
		return prog.Register(0, sock.FD())
	})
	if err != nil {
		t.Fatalf("setup in %s: %v", lab.RecvNS, err)
	}
	if got := sock.FillEmpty(); got != 0 {
		t.Errorf("FillEmpty before traffic: got %d, want 0", got)
	}
	if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, port), []uint16{41000, 41001}, payload, count); err != nil {
		t.Fatalf("SendUDP: %v", err)
	}
	// Every frame sits on the rx ring: the kernel finds the fill ring empty
	// for each datagram after the first 64.
	deadline := time.Now().Add(5 * time.Second)
	for sock.FrameStats().RX < frames || sock.FillEmpty() < count-frames {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fe := sock.FillEmpty()
	st, err := sock.Stats()
	if err != nil {
		t.Fatal(err)
	}
	fs := sock.FrameStats()
	t.Logf("FillEmpty %d, %+v, %+v", fe, st, fs)
	if fe == 0 {
		t.Errorf("FillEmpty: got 0 after %d datagrams on %d frames, want > 0", count, frames)
	}
	if fe != st.RxFillRingEmptyDescs {
		t.Errorf("FillEmpty %d, Stats().RxFillRingEmptyDescs %d: want equal", fe, st.RxFillRingEmptyDescs)
	}
	if fs.RX != frames || fs.Fill != 0 {
		t.Errorf("FrameStats %+v: want all %d frames on the rx ring", fs, frames)
	}
	if uint64(fs.RX)+fe > count {
		t.Errorf("rx %d + fill empty %d > %d datagrams sent", fs.RX, fe, count)
	}
	if err := sock.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sock.FillEmpty(); got != 0 {
		t.Errorf("FillEmpty after Close: got %d, want 0", got)
	}
}
