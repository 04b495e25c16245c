package pcb

import "testing"

func TestSetOverloadedAndGroupKey(t *testing.T) {
	tb := newTable(t, DefaultConfig())
	for id := EndpointID(1); id <= 3; id++ {
		tb.Bind(id, sp("udp/0.0.0.0:53", rp))
	}
	tb.Bind(4, sp("udp/198.18.0.1:53", rp))
	tb.Bind(5, sp("udp/0.0.0.0:54"))
	k1, ok1 := tb.GroupKey(1)
	k3, _ := tb.GroupKey(3)
	k4, _ := tb.GroupKey(4)
	if _, ok := tb.GroupKey(5); ok || !ok1 || k1 != k3 || k1 == k4 {
		t.Errorf("GroupKey: %v %v %v", k1, k3, k4)
	}
	cp := tb.Clone()
	if !cp.SetOverloaded(2, true) || cp.SetOverloaded(5, true) {
		t.Fatal("SetOverloaded: wrong membership")
	}
	f := fl("udp", c1, "198.18.0.2:53")
	// n=3 threshold: 0x55555556 picks index 1 (endpoint 2); overloaded, the
	// next member (3) takes it, in the marked copy only.
	if got := cp.Lookup(&f, 0x55555556); got != 3 {
		t.Errorf("marked copy: %d, want 3", got)
	}
	if got := tb.Lookup(&f, 0x55555556); got != 2 {
		t.Errorf("other copy: %d, want 2", got)
	}
}
