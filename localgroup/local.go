package localgroup

import (
	"errors"
	"fmt"
	"slices"
)

// NoQueue is the queue of a member that declared none (MemberSpec), and
// the home of a group copy that prefers no queue's members (SetHome).
const NoQueue = ^uint32(0)

// MemberSpec says how a member joins a group (Join).
type MemberSpec struct {
	// HasSlot gives the member an explicit Slot (see AddSlot).
	HasSlot bool
	Slot    uint32
	// HasQueue declares the NIC queue the member lives next to (queue-
	// local members: Linux's SO_INCOMING_CPU, FreeBSD's
	// TCP_REUSPORT_LB_NUMA). A copy of the group whose home is Queue
	// (SetHome) picks among such members only, while it has any.
	HasQueue bool
	Queue    uint32
}

// ErrBadQueue is returned (wrapped) by Join for a declared queue of
// NoQueue.
var ErrBadQueue = errors.New("bad member queue")

// Join adds m as spec says: with a slot (AddSlot's order and checks) or
// without (Add's), declaring a queue or not. It fails, changing nothing,
// with ErrBadMember, ErrBadSlot, ErrSlotInUse, ErrBadQueue or
// ErrGroupFull.
func (g *Group) Join(m Member, spec MemberSpec) error {
	if m == 0 || slices.Contains(g.members, m) {
		return fmt.Errorf("add member %d: %w", m, ErrBadMember)
	}
	if spec.HasSlot {
		if err := g.CheckSlot(spec.Slot); err != nil {
			return fmt.Errorf("add member %d: %w", m, err)
		}
	}
	if spec.HasQueue && spec.Queue == NoQueue {
		return fmt.Errorf("add member %d: %w %d", m, ErrBadQueue, spec.Queue)
	}
	if len(g.members) >= g.limit {
		return fmt.Errorf("add member %d: %w (limit %d members)", m, ErrGroupFull, g.limit)
	}
	q := NoQueue
	if spec.HasQueue {
		q = spec.Queue
	}
	i, sid, slot := len(g.members), g.freeSID(), uint32(noSlot)
	if spec.HasSlot {
		i, _ = slices.BinarySearch(g.slots, spec.Slot)
		sid, slot = uint16(spec.Slot+1), spec.Slot
	}
	g.members = slices.Insert(g.members, i, m)
	g.slots = slices.Insert(g.slots, i, slot)
	g.sids = slices.Insert(g.sids, i, sid)
	g.over = slices.Insert(g.over, i, false)
	g.queues = slices.Insert(g.queues, i, q)
	g.rebuild()
	return nil
}

// Queue returns the queue member m declared; ok is false when m is not a
// member or declared none.
func (g *Group) Queue(m Member) (q uint32, ok bool) {
	i := slices.Index(g.members, m)
	if i < 0 || g.queues[i] == NoQueue {
		return 0, false
	}
	return g.queues[i], true
}

// SetHome makes this copy of the group the one of queue q's worker: while
// some members declared q, Pick and PickPacket choose among them only, with
// the group's policy over that subset, in member order (so a queue-local
// subset keeps slots and bounded loads); a packet whose QUIC server ID names
// any member still goes to it. With no member declared for q, or when every
// one of them is overloaded (SetOverloaded), the pick is over the whole
// group. NoQueue (the default) turns the preference off. The subset, and
// its Maglev table, are built here and by every change, never per packet.
func (g *Group) SetHome(q uint32) {
	if q == g.home {
		return
	}
	g.home = q
	g.rebuild()
}

// Home returns the queue set by SetHome, or NoQueue.
func (g *Group) Home() uint32 { return g.home }

// Local returns the members that declared the copy's home queue, in
// member order: those the pick prefers.
func (g *Group) Local() []Member {
	out := make([]Member, 0, len(g.loc))
	for _, i := range g.loc {
		out = append(out, g.members[i])
	}
	return out
}

// rebuildLocal recomputes the home queue's subset, its overload count and
// (for Maglev) its table. Called by rebuild.
func (g *Group) rebuildLocal() {
	g.loc, g.locTable, g.locOver = g.loc[:0], nil, 0
	if g.home == NoQueue {
		return
	}
	for i, q := range g.queues {
		if q == g.home {
			g.loc = append(g.loc, uint16(i))
			if g.over[i] {
				g.locOver++
			}
		}
	}
	if len(g.loc) == 0 || g.table == nil {
		return
	}
	keys := g.maglevKeys()
	sub := make([]uint64, len(g.loc))
	for j, i := range g.loc {
		sub[j] = keys[i]
	}
	g.locTable = buildMaglev(sub)
}

// pickLocal picks among the home queue's members by u with hash policy p,
// spilling past overloaded ones; ok is false when the pick is the whole
// group's (no local member, or all of them overloaded).
func (g *Group) pickLocal(p Policy, u uint32) (m Member, ok bool) {
	k := len(g.loc)
	if k == 0 || g.locOver >= k {
		return 0, false
	}
	var j int
	switch p {
	case Modulo:
		j = int(u % uint32(k))
	case Maglev:
		j = int(g.locTable[u%MaglevSize])
	default:
		j = int((uint64(u) * uint64(k)) >> (32 - g.shift))
	}
	if g.locOver != 0 && g.over[g.loc[j]] {
		j = g.spillLocal(p, u, j)
	}
	return g.members[g.loc[j]], true
}

// spillLocal is spill within the home queue's subset.
func (g *Group) spillLocal(p Policy, u uint32, j int) int {
	if p == Maglev {
		k := u % MaglevSize
		for {
			k++
			if k == MaglevSize {
				k = 0
			}
			if x := int(g.locTable[k]); !g.over[g.loc[x]] {
				return x
			}
		}
	}
	k := len(g.loc)
	for {
		j++
		if j == k {
			j = 0
		}
		if !g.over[g.loc[j]] {
			return j
		}
	}
}
