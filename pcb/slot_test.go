package pcb

import (
	"errors"
	"slices"
	"syscall"
	"testing"

	"github.com/xdpmux/xdpmux/localgroup"
)

func slot(n uint32) func(*Spec) { return func(s *Spec) { s.HasSlot, s.Slot = true, n } }

func TestBindSlot(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want error
	}{
		{"ok", sp("udp/0.0.0.0:53", rp, slot(3)), nil},
		{"slot taken", sp("udp/0.0.0.0:53", rp, slot(1)), ErrSlotInUse},
		{"no reuseport", sp("udp/198.18.0.1:54", slot(1)), ErrInvalidSpec},
		{"too big", sp("udp/0.0.0.0:53", rp, slot(localgroup.MaxSlot+1)), ErrInvalidSpec},
		{"jailed: no group", sp("udp/0.0.0.0:55", rp, slot(1), jail("198.18.0.1")), ErrInvalidSpec},
		{"connected", sp("udp/198.18.0.1:56->198.18.1.1:9", rp, slot(1)), ErrInvalidSpec},
		{"dual-stack wildcard: no group", sp("udp/[::]:57", rp, dual, slot(1)), ErrInvalidSpec},
		{"other group, same slot", sp("udp/198.18.0.1:53", rp, slot(1)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable(t, DefaultConfig())
			if err := tb.Bind(1, sp("udp/0.0.0.0:53", rp, slot(1))); err != nil {
				t.Fatal(err)
			}
			err := tb.Bind(2, tt.spec)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Bind(%v slot %d) = %v, want %v", tt.spec, tt.spec.Slot, err, tt.want)
			}
			if err != nil && tb.Len() != 1 {
				t.Errorf("failed Bind left %d endpoints, want 1", tb.Len())
			}
		})
	}
	tb := newTable(t, DefaultConfig())
	tb.Bind(1, sp("udp/0.0.0.0:53", rp, slot(1)))
	if err := tb.Bind(2, sp("udp/0.0.0.0:53", rp, slot(1))); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("slot in use = %v, want it to match EADDRINUSE", err)
	}
}

// TestSlotRejoinLookup: members bound in any order sit in slot order; one
// that unbinds and binds again under a new ID with its slot gets every
// flow back, and its server ID is slot + 1.
func TestSlotRejoinLookup(t *testing.T) {
	for _, p := range []localgroup.Policy{localgroup.Threshold, localgroup.Modulo, localgroup.Maglev, localgroup.QUIC} {
		cfg := DefaultConfig()
		cfg.Policy = p
		cfg.Queues = 4
		tb := newTable(t, cfg)
		for i, s := range []uint32{3, 0, 2, 1} {
			if err := tb.Bind(EndpointID(10+i), sp("udp/0.0.0.0:53", rp, slot(s))); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := tb.GroupMembers(10), []EndpointID{11, 13, 12, 10}; !slices.Equal(got, want) {
			t.Fatalf("%v: GroupMembers = %v, want %v (slot order)", p, got, want)
		}
		f := fl("udp", c1, "198.18.0.1:53")
		hashes := []uint32{0, 1 << 31, 0x12345678, 0x9abcdef0, 0xfedcba98, 0x0f0f0f0f, 0xdeadbeef, 0x7fffffff}
		before := make([]EndpointID, len(hashes))
		for i, h := range hashes {
			before[i] = tb.Lookup(&f, h)
		}
		tb.Unbind(12) // slot 2
		tb.Bind(99, sp("udp/0.0.0.0:53", rp, slot(2)))
		for i, h := range hashes {
			got := tb.Lookup(&f, h)
			if before[i] == 12 && got != 99 || before[i] != 12 && got != before[i] {
				t.Errorf("%v: hash %#x: %d after rejoin, was %d (12 rejoined as 99)", p, h, got, before[i])
			}
		}
		if sid, _ := tb.ServerID(99); sid != 3 {
			t.Errorf("%v: ServerID(99) = %d, want slot+1 = 3", p, sid)
		}
	}
}
