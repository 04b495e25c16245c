package fairness

import (
	"math"
	"testing"
)

func TestJain(t *testing.T) {
	tests := []struct {
		name string
		x    []float64
		want float64
	}{
		{"empty", nil, 0},
		{"all zero", []float64{0, 0, 0}, 0},
		{"one", []float64{7}, 1},
		{"equal", []float64{5, 5, 5, 5}, 1},
		{"one gets all of 4", []float64{9, 0, 0, 0}, 0.25},
		{"two of four", []float64{3, 3, 0, 0}, 0.5},
		{"1 and 3", []float64{1, 3}, 16.0 / 20.0},
		{"1 and 2", []float64{1, 2}, 9.0 / 10},
	}
	for _, tt := range tests {
		if got := Jain(tt.x); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Jain(%v) = %v, want %v", tt.name, tt.x, got, tt.want)
		}
		ints := make([]int, len(tt.x))
		u64 := make([]uint64, len(tt.x))
		for i, v := range tt.x {
			ints[i], u64[i] = int(v), uint64(v)
		}
		if gi, gu := Jain(ints), Jain(u64); math.Abs(gi-tt.want) > 1e-12 || math.Abs(gu-tt.want) > 1e-12 {
			t.Errorf("%s: Jain of ints %v, of uint64s %v, want %v", tt.name, gi, gu, tt.want)
		}
	}
}

func TestJainAllocs(t *testing.T) {
	x := []uint64{1, 2, 3, 4}
	if a := testing.AllocsPerRun(100, func() { Jain(x) }); a != 0 {
		t.Errorf("Jain: %v allocs, want 0", a)
	}
}
