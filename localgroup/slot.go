package localgroup

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
)

// MaxSlot is the largest slot AddSlot accepts: a slotted member's server ID
// is its slot + 1, and server IDs are 16-bit.
const MaxSlot = 0xfffe

// noSlot marks a member added without a slot (Add); it sorts after every
// slot, so unslotted members follow the slotted ones, in bind order.
const noSlot = 1 << 16

// ErrSlotInUse is returned (wrapped) by AddSlot when another member holds
// the slot, or holds the server ID the slot implies (slot + 1). Like
// pcb.ErrAddrInUse it also matches syscall.EADDRINUSE: a kernel would
// refuse the bind for the same kind of reason.
var ErrSlotInUse error = &slotInUseError{}

type slotInUseError struct{}

func (*slotInUseError) Error() string { return "group slot in use" }

// Is reports whether target is syscall.EADDRINUSE.
func (*slotInUseError) Is(target error) bool { return target == syscall.EADDRINUSE }

// ErrBadSlot is returned (wrapped) by AddSlot for a slot above MaxSlot.
var ErrBadSlot = errors.New("bad group slot")

// AddSlot adds m with an explicit slot (DragonFly's later inp_localgroup
// keeps members sorted by such an index). Slotted members come first, in
// increasing slot order, then the members added without one (Add), in
// bind order. Every policy picks from that order, and Maglev derives a
// slotted member's permutation from its slot rather than from m, and the
// QUIC policy gives it server ID slot + 1: a member that leaves and joins
// again with the same slot, under any member ID, gets exactly the flows
// and connection IDs it had. It fails, changing nothing, with ErrBadMember
// (m is 0 or a member), ErrBadSlot (slot > MaxSlot), ErrSlotInUse (another
// member has the slot or server ID slot + 1) or ErrGroupFull.
func (g *Group) AddSlot(m Member, slot uint32) error {
	return g.Join(m, MemberSpec{HasSlot: true, Slot: slot})
}

// CheckSlot reports whether a member could join with slot: an error
// wrapping ErrBadSlot or ErrSlotInUse if not.
func (g *Group) CheckSlot(slot uint32) error {
	if slot > MaxSlot {
		return fmt.Errorf("slot %d: %w (max %d)", slot, ErrBadSlot, MaxSlot)
	}
	for i, s := range g.slots {
		if s == slot {
			return fmt.Errorf("slot %d: %w by member %d", slot, ErrSlotInUse, g.members[i])
		}
		if uint32(g.sids[i]) == slot+1 {
			return fmt.Errorf("slot %d: %w: member %d (no slot) holds server ID %d", slot, ErrSlotInUse, g.members[i], slot+1)
		}
	}
	return nil
}

// Slot returns member m's slot; ok is false when m is not a member or was
// added without a slot.
func (g *Group) Slot(m Member) (slot uint32, ok bool) {
	i := slices.Index(g.members, m)
	if i < 0 || g.slots[i] == noSlot {
		return 0, false
	}
	return g.slots[i], true
}

// maglevKeys returns the key of each member's Maglev permutation: the
// member ID, or 1<<32 | slot for a slotted member.
func (g *Group) maglevKeys() []uint64 {
	keys := make([]uint64, len(g.members))
	for i, m := range g.members {
		keys[i] = uint64(m)
		if s := g.slots[i]; s != noSlot {
			keys[i] = 1<<32 | uint64(s)
		}
	}
	return keys
}
