package pcb

import (
	"errors"
	"testing"

	"github.com/xdpmux/xdpmux/localgroup"
)

func onQueue(q uint32) func(*Spec) {
	return func(s *Spec) { s.HasQueue, s.Queue = true, q }
}

func TestBindQueueErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
	}{
		{"no reuseport", sp("udp/0.0.0.0:53", onQueue(0))},
		{"queue out of range", sp("udp/0.0.0.0:53", rp, onQueue(2))},
		{"connected", sp("udp/198.18.0.1:53->198.18.1.1:1000", rp, onQueue(0))},
		{"jailed", sp("udp/0.0.0.0:53", rp, jail("198.18.0.1"), onQueue(0))},
		{"dual-stack wildcard, seed rule", sp("udp/[::]:53", rp, dual, onQueue(0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable(t, Config{Queues: 2, GroupLimit: 8})
			if err := tb.Bind(1, tt.spec); !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("Bind(%v queue %d) = %v, want ErrInvalidSpec", tt.spec, tt.spec.Queue, err)
			}
		})
	}
	tb := newTable(t, Config{Queues: 2, GroupLimit: 8})
	if err := tb.Bind(1, sp("udp/0.0.0.0:53", rp, onQueue(1))); err != nil {
		t.Errorf("Bind on queue 1 of 2: %v", err)
	}
}

// TestLookupLocal: two queues, members 1 and 2 declared for queue 0, 3 for
// queue 1, 4 for none. Queue 0's copy picks among 1 and 2, queue 1's
// copy always 3, and the authority (no home) over all four; a group
// without a member for the queue picks over all its members.
func TestLookupLocal(t *testing.T) {
	tb := newTable(t, Config{Queues: 2, GroupLimit: 8, Policy: localgroup.Maglev})
	tb.Bind(1, sp("udp/0.0.0.0:53", rp, onQueue(0)))
	tb.Bind(2, sp("udp/0.0.0.0:53", rp, onQueue(0)))
	tb.Bind(3, sp("udp/0.0.0.0:53", rp, onQueue(1)))
	tb.Bind(4, sp("udp/0.0.0.0:53", rp))
	tb.Bind(5, sp("udp/0.0.0.0:54", rp, onQueue(1)))
	tb.Bind(6, sp("udp/0.0.0.0:54", rp))
	copies := make([]*Table, 2)
	for q := range copies {
		copies[q] = tb.Clone()
		copies[q].SetHome(uint32(q))
	}
	f53, f54 := fl("udp", c1, "198.18.0.2:53"), fl("udp", c1, "198.18.0.2:54")
	got := func(tb *Table, f *Flow) map[EndpointID]bool {
		seen := map[EndpointID]bool{}
		for h := uint32(0); h < 4000; h++ {
			seen[tb.Lookup(f, h*0x9e3779b1)] = true
		}
		return seen
	}
	check := func(name string, seen map[EndpointID]bool, want ...EndpointID) {
		t.Helper()
		if len(seen) != len(want) {
			t.Errorf("%s: reached %v, want %v", name, seen, want)
		}
		for _, id := range want {
			if !seen[id] {
				t.Errorf("%s: reached %v, want %v", name, seen, want)
			}
		}
	}
	check("queue 0, port 53", got(copies[0], &f53), 1, 2)
	check("queue 1, port 53", got(copies[1], &f53), 3)
	check("authority, port 53", got(tb, &f53), 1, 2, 3, 4)
	check("queue 0, port 54", got(copies[0], &f54), 5, 6)
	check("queue 1, port 54", got(copies[1], &f54), 5)

	// Bounded loads within the subset: 1 overloaded, queue 0 sends all
	// to 2; both overloaded, the whole group's pick (spilling to 3, 4).
	copies[0].SetOverloaded(1, true)
	check("queue 0, 1 overloaded", got(copies[0], &f53), 2)
	copies[0].SetOverloaded(2, true)
	check("queue 0, 1 and 2 overloaded", got(copies[0], &f53), 3, 4)

	// The last member of queue 1 leaves: queue 1 picks over the group.
	for _, c := range append(copies, tb) {
		if err := c.Unbind(3); err != nil {
			t.Fatal(err)
		}
	}
	check("queue 1 after unbind, port 53", got(copies[1], &f53), 1, 2, 4)
}
