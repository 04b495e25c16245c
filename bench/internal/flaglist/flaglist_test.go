package flaglist

import (
	"reflect"
	"testing"
)

func TestInts(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []int
		err  bool
	}{
		{"", nil, false},
		{"1,2,4,8", []int{1, 2, 4, 8}, false},
		{" 1, 2,,4, ", []int{1, 2, 4}, false},
		{"1,x", nil, true},
		{"1.5", nil, true},
	} {
		got, err := Ints(tt.in)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Ints(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestFloats(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []float64
		err  bool
	}{
		{"", nil, false},
		{"10k,100k", []float64{10000, 100000}, false},
		{" 64, 100 ,", []float64{64, 100}, false},
		{"2.5k,1e3", []float64{2500, 1000}, false},
		{"k", nil, true},
		{"10m", nil, true},
	} {
		got, err := Floats(tt.in)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Floats(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestSet(t *testing.T) {
	got := Set(" xdp-drop,,kernel-reuseport ")
	want := map[string]bool{"xdp-drop": true, "kernel-reuseport": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Set = %v, want %v", got, want)
	}
}
