package rxq

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

// addrPair is a fill (or completion) ring with both ends: a FillQueue
// produces uint64 entries and a CompletionQueue over the same memory
// consumes them, standing in for the kernel.
func addrPair(t testing.TB, size uint32) (*FillQueue, *CompletionQueue) {
	t.Helper()
	mem, off := MemRing(size, 8)
	p, err := NewFillQueue(mem, off, size)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCompletionQueue(mem, off, size)
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// descPair is a TX (or RX) ring with both ends.
func descPair(t testing.TB, size uint32) (*TXQueue, *RXQueue) {
	t.Helper()
	mem, off := MemRing(size, 16)
	p, err := NewTXQueue(mem, off, size)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewRXQueue(mem, off, size)
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// TestRingRandomModel runs random interleavings of batch and
// reserve/peek operations on both ring kinds against a slice (FIFO) model.
func TestRingRandomModel(t *testing.T) {
	for _, size := range []uint32{1, 2, 8, 64} {
		for seed := uint64(0); seed < 20; seed++ {
			rng := rand.New(rand.NewPCG(seed, uint64(size)))
			fq, cq := addrPair(t, size)
			tq, rq := descPair(t, size)
			var model []uint64 // entries in flight, oldest first
			next := uint64(1)
			buf := make([]uint64, 2*size)
			dbuf := make([]Desc, 2*size)
			for step := 0; step < 2000; step++ {
				n := rng.IntN(int(2*size) + 1)
				switch rng.IntN(4) {
				case 0: // batch produce
					for i := range buf[:n] {
						buf[i] = next + uint64(i)
						dbuf[i] = Desc{Addr: next + uint64(i), Len: uint32(next+uint64(i)) * 3, Options: 7}
					}
					got := fq.Fill(buf[:n])
					if got2 := tq.Transmit(dbuf[:n]); got2 != got {
						t.Fatalf("size %d seed %d step %d: Fill %d, Transmit %d", size, seed, step, got, got2)
					}
					want := min(n, int(size)-len(model))
					if got != want {
						t.Fatalf("size %d seed %d step %d: Fill(%d) = %d, want %d", size, seed, step, n, got, want)
					}
					for i := range got {
						model = append(model, next+uint64(i))
					}
					next += uint64(got)
				case 1: // reserve/set/submit
					idx, got := fq.Reserve(uint32(n))
					idx2, got2 := tq.Reserve(uint32(n))
					if want := min(n, int(size)-len(model)); int(got) != want || got2 != got {
						t.Fatalf("size %d seed %d step %d: Reserve(%d) = %d/%d, want %d", size, seed, step, n, got, got2, want)
					}
					for i := uint32(0); i < got; i++ {
						fq.Set(idx+i, next)
						tq.Set(idx2+i, Desc{Addr: next, Len: uint32(next) * 3, Options: 7})
						model = append(model, next)
						next++
					}
					fq.Submit(got)
					tq.Submit(got)
				case 2: // batch consume
					got := cq.Complete(buf[:n])
					if got2 := rq.Receive(dbuf[:n]); got2 != got {
						t.Fatalf("Complete %d, Receive %d", got, got2)
					}
					if want := min(n, len(model)); got != want {
						t.Fatalf("size %d seed %d step %d: Complete(%d) = %d, want %d", size, seed, step, n, got, want)
					}
					for i := range got {
						if buf[i] != model[i] || dbuf[i] != (Desc{Addr: model[i], Len: uint32(model[i]) * 3, Options: 7}) {
							t.Fatalf("entry %d: got %d / %+v, want %d", i, buf[i], dbuf[i], model[i])
						}
					}
					model = model[got:]
				case 3: // peek/get/release
					idx, got := cq.Peek(uint32(n))
					idx2, got2 := rq.Peek(uint32(n))
					if want := min(n, len(model)); int(got) != want || got2 != got {
						t.Fatalf("Peek(%d) = %d/%d, want %d", n, got, got2, want)
					}
					for i := uint32(0); i < got; i++ {
						if a, d := cq.Get(idx+i), rq.Get(idx2+i); a != model[i] || d.Addr != model[i] {
							t.Fatalf("Get: %d / %+v, want %d", a, d, model[i])
						}
					}
					cq.Release(got)
					rq.Release(got)
					model = model[got:]
				}
				if fq.Len() != len(model) || cq.Len() != len(model) || tq.Len() != len(model) || rq.Len() != len(model) {
					t.Fatalf("Len = %d %d %d %d, want %d", fq.Len(), cq.Len(), tq.Len(), rq.Len(), len(model))
				}
			}
		}
	}
}

// TestRingIndexWrap starts the indices just below 2^32 so they wrap.
func TestRingIndexWrap(t *testing.T) {
	const size = 8
	mem, off := MemRing(size, 8)
	for _, o := range []uint64{off.Producer, off.Consumer} {
		mem[o], mem[o+1], mem[o+2], mem[o+3] = 0xfb, 0xff, 0xff, 0xff // 2^32-5
	}
	p, _ := NewFillQueue(mem, off, size)
	c, _ := NewCompletionQueue(mem, off, size)
	buf := make([]uint64, size)
	for round := uint64(0); round < 10; round++ {
		in := []uint64{round, round + 100, round + 200, round + 300, round + 400, round + 500}
		if n := p.Fill(in); n != len(in) {
			t.Fatalf("Fill = %d, want %d", n, len(in))
		}
		if n := c.Complete(buf); n != len(in) {
			t.Fatalf("Complete = %d, want %d", n, len(in))
		}
		for i := range in {
			if buf[i] != in[i] {
				t.Fatalf("round %d entry %d: got %d, want %d", round, i, buf[i], in[i])
			}
		}
	}
}

// TestRingConcurrent runs a producer and a consumer goroutine (run with
// -race: the atomics must order the plain descriptor accesses).
func TestRingConcurrent(t *testing.T) {
	const size, total = 64, 200000
	tq, rq := descPair(t, size)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		batch := make([]Desc, BatchSize)
		for sent := 0; sent < total; {
			n := min(len(batch), total-sent)
			for i := range batch[:n] {
				batch[i] = Desc{Addr: uint64(sent + i), Len: uint32(sent + i)}
			}
			sent += tq.Transmit(batch[:n])
		}
	}()
	batch := make([]Desc, BatchSize)
	for want := 0; want < total; {
		n := rq.Receive(batch)
		for _, d := range batch[:n] {
			if d.Addr != uint64(want) || d.Len != uint32(want) {
				t.Fatalf("got %+v, want addr %d", d, want)
			}
			want++
		}
	}
	wg.Wait()
}

func TestNewRingErrors(t *testing.T) {
	mem, off := MemRing(8, 8)
	if _, err := NewFillQueue(mem, off, 6); !errors.Is(err, ErrNotPowerOfTwo) {
		t.Errorf("size 6: got %v, want ErrNotPowerOfTwo", err)
	}
	if _, err := NewFillQueue(mem, off, 16); err == nil {
		t.Errorf("size 16 over an 8-entry mapping: got nil error")
	}
	if _, err := NewRXQueue(mem[:100], off, 8); err == nil {
		t.Errorf("short mapping: got nil error")
	}
}

func TestRingNeedWakeup(t *testing.T) {
	mem, off := MemRing(8, 8)
	q, _ := NewFillQueue(mem, off, 8)
	if q.NeedWakeup() {
		t.Fatal("NeedWakeup with flags 0")
	}
	mem[off.Flags] = 1
	if !q.NeedWakeup() {
		t.Fatal("NeedWakeup false with XDP_RING_NEED_WAKEUP set")
	}
}

func TestRingAllocs(t *testing.T) {
	fq, cq := addrPair(t, 256)
	tq, rq := descPair(t, 256)
	addrs := make([]uint64, BatchSize)
	descs := make([]Desc, BatchSize)
	for name, f := range map[string]func(){
		"Fill+Complete": func() {
			fq.Fill(addrs)
			cq.Complete(addrs)
		},
		"Transmit+Receive": func() {
			tq.Transmit(descs)
			rq.Receive(descs)
		},
	} {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, a)
		}
	}
}

func BenchmarkRingFillComplete(b *testing.B) {
	fq, cq := addrPair(b, 2048)
	addrs := make([]uint64, BatchSize)
	b.ReportAllocs()
	for b.Loop() {
		fq.Fill(addrs)
		cq.Complete(addrs)
	}
	b.ReportMetric(float64(b.N*BatchSize)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkRingTransmitReceive(b *testing.B) {
	tq, rq := descPair(b, 2048)
	descs := make([]Desc, BatchSize)
	b.ReportAllocs()
	for b.Loop() {
		tq.Transmit(descs)
		rq.Receive(descs)
	}
	b.ReportMetric(float64(b.N*BatchSize)/b.Elapsed().Seconds(), "descs/s")
}

// TestRXQueueReady checks Ready, what Socket.Wait re-checks before
// parking, against the entries published and taken.
func TestRXQueueReady(t *testing.T) {
	tq, rq := descPair(t, 8)
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"empty", func() {}, false},
		{"one published", func() { tq.Transmit([]Desc{{Addr: 1}}) }, true},
		{"taken", func() { rq.Receive(make([]Desc, 8)) }, false},
		{"three published", func() { tq.Transmit([]Desc{{Addr: 2}, {Addr: 3}, {Addr: 4}}) }, true},
		{"one of three peeked", func() { rq.Peek(1) }, true},
		{"rest peeked, not released", func() { rq.Peek(8) }, false},
		{"released", func() { rq.Release(3) }, false},
	}
	for _, st := range steps {
		st.do()
		if got := rq.Ready(); got != st.want {
			t.Errorf("%s: Ready() = %v, want %v", st.name, got, st.want)
		}
	}
}
