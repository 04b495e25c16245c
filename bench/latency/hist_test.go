package latency

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketRange(t *testing.T) {
	// Every bucket's range starts right after the previous one's and
	// holds exactly the values bucketOf maps to it.
	var next uint64
	for i := range nBuckets {
		lo, hi := bucketRange(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if i == nBuckets-1 {
			if hi != math.MaxUint64 {
				t.Fatalf("last bucket ends at %d, want MaxUint64", hi)
			}
			break
		}
		next = hi + 1
	}
}

// naive is the reference: the ceil(q·n)-th smallest value.
func naive(sorted []uint64, q float64) uint64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// TestQuantileRandom compares Quantile with a sorted slice on random
// data of several shapes: within the bucket's relative error.
func TestQuantileRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := []struct {
		name string
		gen  func() uint64
	}{
		{"uniform small", func() uint64 { return r.Uint64N(100) }},
		{"uniform us", func() uint64 { return 10_000 + r.Uint64N(100_000) }},
		{"exponential", func() uint64 { return uint64(r.ExpFloat64() * 50_000) }},
		{"long tail", func() uint64 {
			if r.IntN(1000) == 0 {
				return 20_000_000 + r.Uint64N(1e9)
			}
			return 40_000 + r.Uint64N(5000)
		}},
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			for _, n := range []int{1, 2, 7, 1000, 54321} {
				var h Hist
				vals := make([]uint64, n)
				for i := range vals {
					vals[i] = s.gen()
					h.Record(vals[i])
				}
				slices.Sort(vals)
				if h.Count() != uint64(n) || h.Max() != vals[n-1] {
					t.Fatalf("n=%d: count %d max %d, want %d %d", n, h.Count(), h.Max(), n, vals[n-1])
				}
				for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
					got, want := h.Quantile(q), naive(vals, q)
					if d := math.Abs(float64(got) - float64(want)); d > float64(want)/sub+1 {
						t.Errorf("n=%d q=%v: got %d, want %d (±%d)", n, q, got, want, want/sub+1)
					}
				}
			}
		})
	}
}

func TestMergeAndEmpty(t *testing.T) {
	var a, b, empty Hist
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Fatalf("empty: got %d, %v; want 0, 0", empty.Quantile(0.5), empty.Mean())
	}
	for v := uint64(1); v <= 100; v++ {
		a.Record(v)
		b.Record(v + 100)
	}
	a.Merge(&b)
	if a.Count() != 200 || a.Max() != 200 || a.Mean() != 100.5 {
		t.Fatalf("merged: count %d max %d mean %v; want 200 200 100.5", a.Count(), a.Max(), a.Mean())
	}
	if got := a.Quantile(0.5); got < 99 || got > 101 {
		t.Fatalf("merged p50 %d, want about 100", got)
	}
}

func TestRecordAllocs(t *testing.T) {
	var h Hist
	if n := testing.AllocsPerRun(1000, func() { h.Record(12345) }); n != 0 {
		t.Fatalf("Record: %v allocs, want 0", n)
	}
}
