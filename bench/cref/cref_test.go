package cref

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseCounters(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		queues int
		want   Counters
		ok     bool
	}{
		{"two queues", "C 10 20 D 1 2 3\n", 2, Counters{Packets: []uint64{10, 20}, RxDropped: 1, RxRingFull: 2, RxInvalidDescs: 3}, true},
		{"one queue", "C 0 D 0 0 0", 1, Counters{Packets: []uint64{0}}, true},
		{"big", "C 18446744073709551615 D 0 0 7", 1, Counters{Packets: []uint64{1<<64 - 1}, RxInvalidDescs: 7}, true},
		{"queue count mismatch", "C 10 D 1 2 3", 2, Counters{}, false},
		{"no D", "C 10 20 X 1 2 3", 2, Counters{}, false},
		{"no C", "ready", 1, Counters{}, false},
		{"negative", "C -1 D 0 0 0", 1, Counters{}, false},
		{"not a number", "C 1 D 0 x 0", 1, Counters{}, false},
		{"empty", "", 1, Counters{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCounters(tt.line, tt.queues)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v, want ErrProtocol", err)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseCounters(f *testing.F) {
	f.Add("C 10 20 D 1 2 3", 2)
	f.Add("C 0 D 0 0 0", 1)
	f.Add("ready", 1)
	f.Fuzz(func(t *testing.T, line string, queues int) {
		if queues < 0 || queues > 64 {
			return
		}
		c, err := ParseCounters(line, queues)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("err = %v, want ErrProtocol", err)
			}
			return
		}
		if len(c.Packets) != queues {
			t.Fatalf("%d counts for %d queues", len(c.Packets), queues)
		}
	})
}
