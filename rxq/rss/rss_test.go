package rss

import (
	"math/bits"
	"testing"
)

func TestNewRSSBadCount(t *testing.T) {
	for _, n := range []int{0, -1} {
		r, err := NewRSS(n)
		if err == nil || r != nil {
			t.Errorf("NewRSS(%d): got %v, %v, want nil, error", n, r, err)
		}
	}
	_, err := NewRSS(0)
	if want := "rss with 0 queues: need at least 1"; err == nil || err.Error() != want {
		t.Errorf("NewRSS(0): got %v, want %q", err, want)
	}
}

func TestRSSTable(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 16, 100, 128, 200} {
		r, err := NewRSS(n)
		if err != nil {
			t.Fatalf("NewRSS(%d): %v", n, err)
		}
		if got := r.NumQueues(); got != n {
			t.Errorf("NewRSS(%d).NumQueues(): got %d, want %d", n, got, n)
		}
		for i := range RSSTableSize {
			if got, want := int(r.table[i]), i%n; got != want {
				t.Errorf("NewRSS(%d) table[%d]: got %d, want %d", n, i, got, want)
			}
		}
	}
}

func TestRSSQueue(t *testing.T) {
	tests := []struct {
		n    int
		hash uint32
		want int
	}{
		{1, 0xffffffff, 0},
		{2, 0x51ccc178, 0},   // 0x78 & 127 = 120, 120 % 2
		{3, 0x51ccc178, 0},   // 120 % 3
		{4, 0x10e828a2, 2},   // 0x22 = 34, 34 % 4
		{5, 0x10e828a2, 4},   // 34 % 5
		{8, 0xc626b0ea, 2},   // 0x6a = 106, 106 % 8
		{7, 0x0000007f, 1},   // 127 % 7
		{7, 0xffffff80, 0},   // 0 % 7
		{16, 0xafc7327f, 15}, // 127 % 16
		{200, 0xafc7327f, 127},
	}
	for _, tt := range tests {
		r, err := NewRSS(tt.n)
		if err != nil {
			t.Fatalf("NewRSS(%d): %v", tt.n, err)
		}
		if got := r.Queue(tt.hash); got != tt.want {
			t.Errorf("NewRSS(%d).Queue(%#08x): got %d, want %d", tt.n, tt.hash, got, tt.want)
		}
	}
}

// TestRSSQueueLowBits checks that the queue depends only on the low 7 bits
// of the hash, and that with a power-of-two queue count it is the low
// log2(n) bits: the bits the reuseport pick then ignores (localgroup.QueueShift).
func TestRSSQueueLowBits(t *testing.T) {
	for _, n := range []int{1, 2, 4, 8, 16, 32, 64, 128} {
		r, _ := NewRSS(n)
		s := bits.TrailingZeros(uint(n)) // log2 n
		for h := uint32(0); h < 1<<12; h++ {
			hash := h*0x9e3779b9 + h
			if got, want := r.Queue(hash), int(hash&(1<<s-1)); got != want {
				t.Fatalf("NewRSS(%d).Queue(%#08x): got %d, want low %d bits %d", n, hash, got, s, want)
			}
			if r.Queue(hash) != r.Queue(hash&127) {
				t.Fatalf("NewRSS(%d).Queue(%#08x) depends on bits above 7", n, hash)
			}
		}
	}
}

func TestNewRSSTable(t *testing.T) {
	for _, tt := range []struct {
		name    string
		table   []uint32
		nqueues int
		err     bool
		hashes  map[uint32]int // hash -> queue
	}{
		{"4 entries", []uint32{3, 2, 1, 0}, 4, false, map[uint32]int{0: 3, 1: 2, 6: 1, 0xffffffff: 0}},
		{"1 entry", []uint32{1}, 2, false, map[uint32]int{0: 1, 12345: 1}},
		{"512 entries", make([]uint32, 512), 1, false, map[uint32]int{511: 0}},
		{"empty", nil, 1, true, nil},
		{"not a power of two", []uint32{0, 1, 0}, 2, true, nil},
		{"entry out of range", []uint32{0, 2}, 2, true, nil},
		{"no queues", []uint32{0, 0}, 0, true, nil},
		{"too big", make([]uint32, 2*MaxTableSize), 1, true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRSSTable(tt.table, tt.nqueues)
			if (err != nil) != tt.err {
				t.Fatalf("NewRSSTable: %v, want error %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if r.NumQueues() != tt.nqueues {
				t.Errorf("NumQueues() = %d, want %d", r.NumQueues(), tt.nqueues)
			}
			for h, q := range tt.hashes {
				if got := r.Queue(h); got != q {
					t.Errorf("Queue(%#x) = %d, want %d", h, got, q)
				}
			}
		})
	}
	// The table is copied.
	tab := []uint32{0, 1}
	r, err := NewRSSTable(tab, 2)
	if err != nil {
		t.Fatal(err)
	}
	tab[1] = 0
	if r.Queue(1) != 1 {
		t.Error("NewRSSTable kept the caller's slice")
	}
}
