package ctl_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/xdpmux/xdpmux/dataplane/ctl"
	"github.com/xdpmux/xdpmux/pcb"
)

// TestBindSlot: a slot travels in Bind (flag bit 2); a slot in use is
// refused as an address in use; after its holder leaves, a new client
// rejoins with it.
func TestBindSlot(t *testing.T) {
	e := newEnv(t, 1, nil)
	opts := func(slot uint16) ctl.Options { return ctl.Options{ReusePort: true, HasSlot: true, Slot: slot} }
	a := listen(t, e.path, "udp/0.0.0.0:5353", opts(3))
	_, err := ctl.Listen(e.path, "udp/0.0.0.0:5353", opts(3))
	if !errors.Is(err, syscall.EADDRINUSE) || !errors.Is(err, pcb.ErrAddrInUse) {
		t.Fatalf("second bind of slot 3: %v, want EADDRINUSE", err)
	}
	b := listen(t, e.path, "udp/0.0.0.0:5353", opts(4))
	defer b.Close()
	a.Close()
	waitFor(t, "slot 3 free again", func() bool {
		c, err := ctl.Listen(e.path, "udp/0.0.0.0:5353", opts(3))
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	if _, err := ctl.Listen(e.path, "udp/0.0.0.0:5354", ctl.Options{HasSlot: true}); !errors.Is(err, pcb.ErrInvalidSpec) {
		t.Errorf("slot without reuseport: %v, want ErrInvalidSpec", err)
	}
}

// TestBindQueue: a queue travels in Bind (flag bit 3), with or without a
// slot; a queue the dataplane does not have is an invalid spec.
func TestBindQueue(t *testing.T) {
	e := newEnv(t, 2, nil)
	a := listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{ReusePort: true, HasQueue: true, Queue: 1})
	defer a.Close()
	b := listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{ReusePort: true, HasSlot: true, Slot: 2, HasQueue: true, Queue: 0})
	defer b.Close()
	if _, err := ctl.Listen(e.path, "udp/0.0.0.0:5353", ctl.Options{ReusePort: true, HasQueue: true, Queue: 2}); !errors.Is(err, pcb.ErrInvalidSpec) {
		t.Errorf("queue 2 of 2: %v, want ErrInvalidSpec", err)
	}
}
