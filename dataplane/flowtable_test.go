package dataplane

import (
	"errors"
	"testing"

	"github.com/xdpmux/xdpmux/pcb"
)

func TestFlowTableStick(t *testing.T) {
	ft, err := NewFlowTable(8, 100)
	if err != nil {
		t.Fatal(err)
	}
	f := pcb.Flow{Proto: pcb.UDP, Family: pcb.IPv4, SrcPort: 1, DstPort: 53}
	yes := func(pcb.EndpointID) bool { return true }
	no := func(pcb.EndpointID) bool { return false }
	steps := []struct {
		now      int64
		pick     pcb.EndpointID
		keep     func(pcb.EndpointID) bool
		want     pcb.EndpointID
		wantKept bool
	}{
		{0, 1, yes, 1, false},    // new flow: the pick, remembered
		{50, 2, yes, 1, true},    // kept on its member
		{100, 1, yes, 1, false},  // kept, and the pick agrees
		{150, 2, no, 2, false},   // its member not kept: the pick, remembered
		{200, 3, yes, 2, true},   // and kept from then on
		{1000, 3, yes, 3, false}, // idle too long: the pick
	}
	for i, s := range steps {
		id, kept := ft.Stick(&f, 7, s.now, s.pick, s.keep)
		if id != s.want || kept != s.wantKept {
			t.Errorf("step %d: Stick = %d, %v; want %d, %v", i, id, kept, s.want, s.wantKept)
		}
	}
	for _, size := range []int{0, 2, 12} {
		if _, err := NewFlowTable(size, 1); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewFlowTable(%d): %v, want ErrInvalidConfig", size, err)
		}
	}
	if _, err := NewFlowTable(8, 0); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewFlowTable idle 0: %v, want ErrInvalidConfig", err)
	}
}
