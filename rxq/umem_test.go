package rxq

import (
	"math/rand/v2"
	"testing"
)

// TestFrameAllocatorRandom allocates and frees at random (with addresses
// pointing inside frames) and checks against a set model that no frame is
// lost or handed out twice.
func TestFrameAllocatorRandom(t *testing.T) {
	for _, fs := range []uint32{2048, 4096} {
		const count = 256
		a := NewFrameAllocatorFull(count, fs)
		rng := rand.New(rand.NewPCG(uint64(fs), 1))
		held := map[uint64]bool{}
		var heldList []uint64
		for step := 0; step < 100000; step++ {
			if rng.IntN(2) == 0 {
				addr, ok := a.Alloc()
				if ok != (len(heldList) < count) {
					t.Fatalf("step %d: Alloc ok=%v with %d held", step, ok, len(heldList))
				}
				if !ok {
					continue
				}
				if addr%uint64(fs) != 0 || addr >= count*uint64(fs) {
					t.Fatalf("step %d: Alloc returned bad address %#x", step, addr)
				}
				if held[addr] {
					t.Fatalf("step %d: frame %#x handed out twice", step, addr)
				}
				held[addr] = true
				heldList = append(heldList, addr)
			} else if len(heldList) > 0 {
				i := rng.IntN(len(heldList))
				addr := heldList[i]
				heldList[i] = heldList[len(heldList)-1]
				heldList = heldList[:len(heldList)-1]
				delete(held, addr)
				// Free may get an address inside the frame (after headroom).
				if !a.Free(addr + uint64(rng.IntN(int(fs)))) {
					t.Fatalf("step %d: Free(%#x) refused", step, addr)
				}
			}
			if a.Len()+len(heldList) != count {
				t.Fatalf("step %d: free %d + held %d != %d", step, a.Len(), len(heldList), count)
			}
		}
		// Drain: every frame exactly once.
		seen := map[uint64]bool{}
		for _, h := range heldList {
			seen[h] = true
		}
		for {
			addr, ok := a.Alloc()
			if !ok {
				break
			}
			if seen[addr] {
				t.Fatalf("frame %#x both held and free", addr)
			}
			seen[addr] = true
		}
		if len(seen) != count {
			t.Fatalf("%d distinct frames, want %d", len(seen), count)
		}
	}
}

func TestFrameAllocatorRejects(t *testing.T) {
	a := NewFrameAllocatorFull(4, 2048)
	if a.Free(0) {
		t.Error("Free on a full list accepted")
	}
	b := NewFrameAllocator(4*2048, 2048, 4)
	if b.Free(4 * 2048) {
		t.Error("Free beyond the UMEM accepted")
	}
	if b.Rejected() != 1 || a.Rejected() != 1 {
		t.Errorf("Rejected = %d, %d, want 1, 1", a.Rejected(), b.Rejected())
	}
	if got := b.Align(3*2048 + 300); got != 3*2048 {
		t.Errorf("Align = %d, want %d", got, 3*2048)
	}
}

func TestFrameAllocatorAllocs(t *testing.T) {
	a := NewFrameAllocatorFull(64, 4096)
	if n := testing.AllocsPerRun(1000, func() {
		x, _ := a.Alloc()
		a.Free(x)
	}); n != 0 {
		t.Errorf("Alloc+Free: %v allocs, want 0", n)
	}
}
