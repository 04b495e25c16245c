package pcb

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestDualStackGroups is the case: four reuseport [::] dual-stack
// members and 128 IPv4 flows. The seed (default) sends every flow to the
// first member; DualStackGroups shares them, like Linux.
func TestDualStackGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, on := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.DualStackGroups = on
		tb := newTable(t, cfg)
		for id := EndpointID(1); id <= 4; id++ {
			if err := tb.Bind(id, sp("udp/[::]:53", rp, dual)); err != nil {
				t.Fatal(err)
			}
		}
		got := map[EndpointID]int{}
		for i := range 128 {
			for _, dst := range []string{"198.18.0.1:53", "[2001:db8::1]:53"} {
				src := fmt.Sprintf("198.18.1.%d:%d", 1+i, 1000+i)
				if dst[0] == '[' {
					src = fmt.Sprintf("[2001:db8:1::%x]:%d", 1+i, 1000+i)
				}
				f := fl("udp", src, dst)
				got[tb.Lookup(&f, rng.Uint32())]++
			}
		}
		if !on && (got[1] != 256 || len(got) != 1) {
			t.Errorf("seed rule: %v, want all 256 on endpoint 1", got)
		}
		if on {
			for id := EndpointID(1); id <= 4; id++ {
				if got[id] < 32 {
					t.Errorf("dual-stack groups: %v, want each of 4 members near 64 of 256", got)
					break
				}
			}
			if m := tb.GroupMembers(1); len(m) != 4 {
				t.Errorf("GroupMembers = %v, want 4", m)
			}
		}
		t.Logf("DualStackGroups %v: %v", on, got)
	}
}

// TestDualStackGroupOrder: SPEC 3's order with dual-stack groups: the
// address group, then the family's wildcard group, then the dual-stack
// group, then the wildcard table.
func TestDualStackGroupOrder(t *testing.T) {
	type bind struct {
		id   EndpointID
		spec Spec
	}
	v4, v6 := fl("udp", c1, "198.18.0.1:53"), fl("udp", "[2001:db8:1::1]:1000", "[2001:db8::1]:53")
	tests := []struct {
		name   string
		binds  []bind
		v4, v6 EndpointID
	}{
		{"dual group only", []bind{{1, sp("udp/[::]:53", rp, dual)}, {2, sp("udp/[::]:53", rp, dual)}}, 2, 1},
		{"v4 wildcard group first", []bind{{1, sp("udp/[::]:53", rp, dual)}, {3, sp("udp/0.0.0.0:53", rp)}}, 3, 1},
		{"v6-only wildcard group first", []bind{{1, sp("udp/[::]:53", rp, dual)}, {4, sp("udp/[::]:53", rp)}}, 1, 4},
		{"address group first", []bind{{1, sp("udp/[::]:53", rp, dual)}, {5, sp("udp/198.18.0.1:53", rp)}, {6, sp("udp/[2001:db8::1]:53", rp)}}, 5, 6},
		{"dual group before the wildcard table", []bind{{1, sp("udp/[::]:53", rp, dual)}, {7, sp("udp/198.18.0.1:53", rp, jail("198.18.0.1"))}}, 1, 1},
		{"jailed dual-stack: not grouped", []bind{{8, sp("udp/[::]:53", rp, dual, jail("198.18.0.1"))}, {9, sp("udp/[::]:53", rp, dual)}}, 9, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DualStackGroups = true
			tb := newTable(t, cfg)
			for _, b := range tt.binds {
				if err := tb.Bind(b.id, b.spec); err != nil {
					t.Fatal(err)
				}
			}
			// Hash 0xffffffff picks the last member under threshold.
			if got := tb.Lookup(&v4, 0xffffffff); got != tt.v4 {
				t.Errorf("IPv4: got %d, want %d", got, tt.v4)
			}
			if got := tb.Lookup(&v6, 0); got != tt.v6 {
				t.Errorf("IPv6: got %d, want %d", got, tt.v6)
			}
		})
	}
}
