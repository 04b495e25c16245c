package rxqtest

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/rxq"
)

func TestSourceRoundTrip(t *testing.T) {
	s, err := New(3, Options{NumFrames: 4, FrameSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.FrameStats(), (rxq.FrameStats{Total: 4, Fill: 4}); got != want {
		t.Fatalf("initial stats: got %+v, want %+v", got, want)
	}
	for i := range 5 {
		ok := s.Inject([]byte{byte(i), 1, 2})
		if want := i < 4; ok != want {
			t.Fatalf("inject %d: got %v, want %v", i, ok, want)
		}
	}
	if got := s.FillEmpty(); got != 1 {
		t.Fatalf("fill empty: got %d, want 1", got)
	}
	if err := s.Wait(time.Second); err != nil {
		t.Fatalf("wait with frames ready: %v", err)
	}
	descs := make([]rxq.Desc, 3)
	n := s.Receive(descs)
	if n != 3 {
		t.Fatalf("receive: got %d, want 3", n)
	}
	for i, d := range descs[:n] {
		if d.Len != 3 || s.UMEM()[d.Addr] != byte(i) {
			t.Fatalf("desc %d: got %+v byte %d", i, d, s.UMEM()[d.Addr])
		}
	}
	if got, want := s.FrameStats(), (rxq.FrameStats{Total: 4, RX: 1}); got != want {
		t.Fatalf("stats with 3 held: got %+v, want %+v", got, want)
	}
	s.Recycle([]uint64{descs[0].Addr + 2, descs[1].Addr})
	if got, want := s.FrameStats(), (rxq.FrameStats{Total: 4, Fill: 2, RX: 1}); got != want {
		t.Fatalf("stats after recycle: got %+v, want %+v", got, want)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("double recycle did not panic")
			}
		}()
		s.Recycle([]uint64{descs[0].Addr})
	}()
	addr := make([]uint64, 1)
	allocs := testing.AllocsPerRun(100, func() {
		addr[0] = descs[2].Addr
		s.Recycle(addr)
		s.Inject([]byte{9})
		_ = s.Receive(descs[2:3])
	})
	if allocs != 0 {
		t.Errorf("receive/recycle allocate: %v per run", allocs)
	}
	s.Close()
	s.Close()
	if err := s.Wait(time.Second); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("wait after close: got %v, want net.ErrClosed", err)
	}
	if s.Inject([]byte{1}) {
		t.Fatal("inject after close succeeded")
	}
}

func TestWaitWakeAndTimeout(t *testing.T) {
	s, err := New(0, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Wait(10 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 5*time.Millisecond {
		t.Error("wait returned before its timeout")
	}
	go s.Wake()
	if err := s.Wait(time.Minute); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{}, {NumFrames: 1}, {FrameSize: 1}, {NumFrames: -1, FrameSize: 10}, {NumFrames: 1, FrameSize: 64, Headroom: 64}, {NumFrames: 1, FrameSize: 64, Headroom: -1}} {
		if _, err := New(0, o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("New(%+v): got %v, want ErrBadOptions", o, err)
		}
	}
}

func TestSourceTransmit(t *testing.T) {
	s, err := New(0, Options{NumFrames: 6, FrameSize: 64, TXRingSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !s.CanTransmit() || s.FrameSize() != 64 {
		t.Fatalf("CanTransmit %v FrameSize %d", s.CanTransmit(), s.FrameSize())
	}
	// Half the frames are kept on the free list for sending, as
	// rxq.Socket keeps them.
	if got, want := s.FrameStats(), (rxq.FrameStats{Total: 6, Fill: 3, Free: 3}); got != want {
		t.Fatalf("initial stats: got %+v, want %+v", got, want)
	}
	var addrs []uint64
	for range 3 {
		a, ok := s.AllocFrame()
		if !ok {
			t.Fatal("alloc failed")
		}
		copy(s.UMEM()[a+8:], "hi")
		addrs = append(addrs, a)
	}
	if _, ok := s.AllocFrame(); ok {
		t.Fatal("alloc from an empty free list succeeded")
	}
	descs := []rxq.Desc{{Addr: addrs[0] + 8, Len: 2}, {Addr: addrs[1] + 8, Len: 2}, {Addr: addrs[2] + 8, Len: 2}}
	if n := s.Transmit(descs); n != 2 {
		t.Fatalf("transmit: got %d, want 2 (ring of 2)", n)
	}
	if got, want := s.FrameStats(), (rxq.FrameStats{Total: 6, Fill: 3}); got != want {
		t.Fatalf("stats with 2 on the TX ring and 1 held: got %+v, want %+v", got, want)
	}
	var sent []string
	if n := s.TakeSent(func(b []byte) { sent = append(sent, string(b)) }); n != 2 || len(sent) != 2 || sent[0] != "hi" {
		t.Fatalf("take sent: got %d %q", n, sent)
	}
	if s.TXPending() != 2 || s.Sent() != 2 {
		t.Fatalf("pending %d sent %d, want 2, 2", s.TXPending(), s.Sent())
	}
	if n := s.Complete(); n != 2 {
		t.Fatalf("complete: got %d, want 2", n)
	}
	s.FreeFrame(addrs[2] + 5)
	if got, want := s.FrameStats(), (rxq.FrameStats{Total: 6, Fill: 3, Free: 3}); got != want {
		t.Fatalf("stats after completion: got %+v, want %+v", got, want)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("transmit of a free frame did not panic")
			}
		}()
		s.Transmit(descs[:1])
	}()
	ro, _ := New(0, Options{NumFrames: 1, FrameSize: 64})
	if ro.CanTransmit() || ro.Transmit(descs[:1]) != 0 {
		t.Error("receive-only source transmits")
	}
}

// A queue that answers every frame in place gets its frames back through
// the completion ring; Complete must put those beyond the transmit reserve
// back on the fill ring, or receiving stops (as on rxq.Socket).
func TestSourceReplyOnlyKeepsFilling(t *testing.T) {
	s, err := New(0, Options{NumFrames: 8, FrameSize: 64, TXRingSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	descs := make([]rxq.Desc, 8)
	for round := range 10 {
		for i := range 4 {
			if !s.Inject([]byte{byte(i)}) {
				t.Fatalf("round %d: inject %d: fill ring empty", round, i)
			}
		}
		n := s.Receive(descs)
		if n != 4 {
			t.Fatalf("round %d: received %d, want 4", round, n)
		}
		if got := s.Transmit(descs[:n]); got != n {
			t.Fatalf("round %d: transmitted %d, want %d", round, got, n)
		}
		if got := s.TakeSent(nil); got != n {
			t.Fatalf("round %d: sent %d, want %d", round, got, n)
		}
		if got := s.Complete(); got != n {
			t.Fatalf("round %d: completed %d, want %d", round, got, n)
		}
		if got, want := s.FrameStats(), (rxq.FrameStats{Total: 8, Fill: 4, Free: 4}); got != want {
			t.Fatalf("round %d: stats %+v, want %+v", round, got, want)
		}
	}
}

func TestSourceInjectMeta(t *testing.T) {
	meta := rxq.NICHash{Hash: 0xabcd1234, Flags: rxq.MetaMagic | rxq.MetaValid}
	for _, tt := range []struct {
		name     string
		headroom int
		meta     bool
		ok       bool
		want     rxq.NICHash
	}{
		{"meta", 256, true, true, meta},
		{"no meta", 256, false, true, rxq.NICHash{}},
		{"headroom too small", 4, true, false, rxq.NICHash{}},
		{"no headroom", 0, true, false, rxq.NICHash{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(0, Options{NumFrames: 8, FrameSize: 2048, Headroom: tt.headroom})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			frame := []byte("frame bytes")
			var ok bool
			if tt.meta {
				ok = s.InjectMeta(frame, meta)
			} else {
				ok = s.Inject(frame)
			}
			if ok != tt.ok {
				t.Fatalf("inject = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			descs := make([]rxq.Desc, 4)
			if n := s.Receive(descs); n != 1 {
				t.Fatalf("Receive = %d, want 1", n)
			}
			d := descs[0]
			if d.Addr%2048 != uint64(tt.headroom) || string(s.UMEM()[d.Addr:d.Addr+uint64(d.Len)]) != string(frame) {
				t.Errorf("desc %+v: frame %q at offset %d, want %q at %d", d, s.UMEM()[d.Addr:d.Addr+uint64(d.Len)], d.Addr%2048, frame, tt.headroom)
			}
			if got := rxq.ReadMeta(s.UMEM(), d.Addr); got != tt.want {
				t.Errorf("ReadMeta = %+v, want %+v", got, tt.want)
			}
			s.Recycle([]uint64{d.Addr})
			if fs := s.FrameStats(); fs.Fill != 8 {
				t.Errorf("after recycle: %+v, want all 8 in fill", fs)
			}
		})
	}
}

// TestInjectBatch checks InjectBatch against Inject's one-at-a-time
// semantics: order, the stop at a frame too large, fill-empty counting,
// nothing after Close, and no allocation.
func TestInjectBatch(t *testing.T) {
	big := make([]byte, 65)
	tests := []struct {
		name      string
		headroom  int
		frames    [][]byte
		closed    bool
		want      int
		wantEmpty uint64
	}{
		{name: "all fit", frames: [][]byte{{0}, {1}, {2}}, want: 3},
		{name: "fill runs out", frames: [][]byte{{0}, {1}, {2}, {3}, {4}, {5}}, want: 4, wantEmpty: 2},
		{name: "stops at too large", frames: [][]byte{{0}, big, {2}}, want: 1},
		{name: "empty batch", frames: nil, want: 0},
		{name: "after close", frames: [][]byte{{0}}, closed: true, want: 0},
		{name: "headroom", headroom: 32, frames: [][]byte{{0}, make([]byte, 32), {2}}, want: 3},
		{name: "headroom: too large", headroom: 32, frames: [][]byte{{0}, make([]byte, 33)}, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(0, Options{NumFrames: 4, FrameSize: 64, Headroom: tc.headroom})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tc.closed {
				s.Close()
			}
			if got := s.InjectBatch(tc.frames); got != tc.want {
				t.Fatalf("InjectBatch: got %d, want %d", got, tc.want)
			}
			if got := s.FillEmpty(); got != tc.wantEmpty {
				t.Errorf("fill empty: got %d, want %d", got, tc.wantEmpty)
			}
			if tc.closed {
				return
			}
			descs := make([]rxq.Desc, 8)
			n := s.Receive(descs)
			if n != tc.want {
				t.Fatalf("receive: got %d, want %d", n, tc.want)
			}
			for i, d := range descs[:n] {
				if d.Len != uint32(len(tc.frames[i])) || s.UMEM()[d.Addr] != tc.frames[i][0] || d.Addr%64 != uint64(tc.headroom) {
					t.Errorf("desc %d: got %+v byte %d, want frame %d at offset %d", i, d, s.UMEM()[d.Addr], i, tc.headroom)
				}
			}
		})
	}
	s, err := New(0, Options{NumFrames: 8, FrameSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frames := [][]byte{{1}, {2}, {3}, {4}}
	descs := make([]rxq.Desc, 4)
	addrs := make([]uint64, 4)
	if allocs := testing.AllocsPerRun(100, func() {
		s.InjectBatch(frames)
		n := s.Receive(descs)
		for i, d := range descs[:n] {
			addrs[i] = d.Addr
		}
		s.Recycle(addrs[:n])
	}); allocs != 0 {
		t.Errorf("InjectBatch round: %v allocs", allocs)
	}
}
