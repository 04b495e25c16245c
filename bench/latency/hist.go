package latency

import "math/bits"

// subBits sets the histogram's precision: 2^subBits buckets per power of
// two, a relative error under 2^-subBits (1.6%).
const (
	subBits = 6
	sub     = 1 << subBits
	// nBuckets covers every uint64: the exact buckets below sub, then
	// exponents 0 .. 63-subBits.
	nBuckets = (64 - subBits + 1) * sub
)

// Hist is a log-linear histogram of durations in nanoseconds (HDR
// histogram style): exact below 64 ns, then 64 buckets per power of two.
// Record never allocates. The zero value is empty. Not safe for
// concurrent use: one per receiving goroutine, merged afterwards.
type Hist struct {
	counts [nBuckets]uint64
	n      uint64
	max    uint64
	sum    float64
}

func bucketOf(v uint64) int {
	if v < sub {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v in [2^(e+subBits), 2^(e+subBits+1))
	return (e+1)*sub + int(v>>uint(e)) - sub
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < sub {
		return uint64(i), uint64(i)
	}
	e := i/sub - 1
	m := uint64(i%sub + sub)
	lo = m << uint(e)
	return lo, lo + (1 << uint(e)) - 1
}

// Record adds one value.
func (h *Hist) Record(ns uint64) {
	h.counts[bucketOf(ns)]++
	h.n++
	h.sum += float64(ns)
	h.max = max(h.max, ns)
}

// Count is the number of values recorded.
func (h *Hist) Count() uint64 { return h.n }

// Max is the largest value recorded (exact).
func (h *Hist) Max() uint64 { return h.max }

// Mean is the mean of the values recorded (exact), 0 when empty.
func (h *Hist) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Merge adds o's values to h.
func (h *Hist) Merge(o *Hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Quantile returns the value at quantile q in [0, 1]: the middle of the
// bucket holding the ceil(q·Count)-th smallest value (the smallest for
// q = 0), never above Max. 0 when empty.
func (h *Hist) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.9999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			return min(lo+(hi-lo)/2, h.max)
		}
	}
	return h.max
}
