// Package fairness measures how evenly load is spread: over the members of
// a reuseport group, the queues of an interface, the workers of a run. It
// is a leaf, shared by the benchmark harness, the demo and live view of
// cmd/xdpmux, the examples and the tests of localgroup, which each had a
// copy of Jain before.
package fairness

// Number is what Jain takes shares as.
type Number interface {
	~int | ~int64 | ~uint64 | ~float64
}

// Jain returns Jain's fairness index of the shares x, (Σx)² / (n·Σx²):
// 1 when all shares are equal, 1/n when one gets everything. It returns 0
// for no shares or when every share is 0: no traffic, nothing to judge.
func Jain[T Number](x []T) float64 {
	var sum, sq float64
	for _, v := range x {
		f := float64(v)
		sum += f
		sq += f * f
	}
	if len(x) == 0 || sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(x)) * sq)
}
