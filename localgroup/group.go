package localgroup

import (
	"errors"
	"fmt"
	"slices"
)

// Member is an endpoint ID. 0 is never a member.
type Member = uint32

// DefaultLimit is the default maximum number of members of a group, the
// seed's limit.
const DefaultLimit = 256

// MaxLimit is the largest group limit New accepts: Maglev table entries are
// 16-bit member indexes and 0xffff marks an empty slot while building.
const MaxLimit = 0xffff

// MaxShift is the largest queue shift New accepts.
const MaxShift = 31

var (
	// ErrGroupFull is returned (wrapped) by Add when the group is at its limit.
	ErrGroupFull = errors.New("local group full")
	// ErrBadMember is returned (wrapped) by Add for member 0 or a member
	// already in the group.
	ErrBadMember = errors.New("bad group member")
)

// QueueShift returns s, the smallest integer with 2^s >= nqueues
// (DragonFly's ncpus2_shift). It returns 0 for nqueues <= 1.
func QueueShift(nqueues int) uint {
	var s uint
	for s < 63 && 1<<s < nqueues {
		s++
	}
	return s
}

// Group is a local group: the members bound to one (protocol, family, local
// address, local port), in bind order. It is not safe for concurrent use.
type Group struct {
	members []Member
	// slots are the members' slots (AddSlot), noSlot for a member added
	// by Add; sorted, so members are in slot order, then bind order.
	slots []uint32
	// over marks overloaded members (SetOverloaded), in member order;
	// nover counts the marks.
	over   []bool
	nover  int
	limit  int
	policy Policy
	shift  uint
	// table is the Maglev lookup table (member indexes), built only while
	// the policy is Maglev and the group is not empty. It is never modified
	// after it is built (a rebuild allocates a new one), so clones share it.
	table []uint16
	// sids are the members' server IDs (QUIC policy), in member order;
	// a member keeps its ID while it is a member.
	sids []uint16
	quic QUICConfig
	// bySID maps a server ID to 1 + its member's index (0: none), built
	// only while the policy is QUIC; immutable like table.
	bySID []uint16
	// queues are the members' declared queues (Join), NoQueue for none,
	// in member order.
	queues []uint32
	// home is the queue whose members this copy prefers (SetHome), or
	// NoQueue; loc are the indexes of the members that declared it, in
	// member order, locOver how many of them are overloaded, and
	// locTable their Maglev table (entries index loc; immutable like
	// table), all rebuilt by every change.
	home     uint32
	loc      []uint16
	locOver  int
	locTable []uint16
}

// New returns an empty group holding at most limit members (DefaultLimit if
// limit <= 0), picking with policy, for a dataplane with shift =
// QueueShift(nqueues). It panics if limit > MaxLimit or shift > MaxShift:
// callers validate their configuration first.
func New(limit int, policy Policy, shift uint) *Group {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		panic(fmt.Sprintf("localgroup: limit %d above %d", limit, MaxLimit))
	}
	if shift > MaxShift {
		panic(fmt.Sprintf("localgroup: queue shift %d above %d", shift, MaxShift))
	}
	g := &Group{limit: limit, policy: policy, shift: shift, quic: DefaultQUICConfig(), home: NoQueue}
	g.rebuild()
	return g
}

// Add appends m as the last member (after the slotted ones, AddSlot),
// declaring no queue: Join(m, MemberSpec{}). It fails, changing nothing, with an error
// wrapping ErrGroupFull when the group holds its limit, or ErrBadMember when
// m is 0 or already a member.
func (g *Group) Add(m Member) error { return g.Join(m, MemberSpec{}) }

// Remove removes m; the later members shift down one slot, as FreeBSD's
// in_pcbremlbgrouphash does. It reports whether m was a member.
func (g *Group) Remove(m Member) bool {
	i := slices.Index(g.members, m)
	if i < 0 {
		return false
	}
	g.members = slices.Delete(g.members, i, i+1)
	g.sids = slices.Delete(g.sids, i, i+1)
	g.slots = slices.Delete(g.slots, i, i+1)
	if g.over[i] {
		g.nover--
	}
	g.over = slices.Delete(g.over, i, i+1)
	g.queues = slices.Delete(g.queues, i, i+1)
	g.rebuild()
	return true
}

// Members returns a copy of the members in order.
func (g *Group) Members() []Member { return slices.Clone(g.members) }

// Len returns the number of members.
func (g *Group) Len() int { return len(g.members) }

// Limit returns the maximum number of members.
func (g *Group) Limit() int { return g.limit }

// Policy returns the pick policy.
func (g *Group) Policy() Policy { return g.policy }

// Shift returns the queue shift s.
func (g *Group) Shift() uint { return g.shift }

// SetPolicy changes the pick policy, building or dropping the Maglev table
// and the server ID index.
func (g *Group) SetPolicy(p Policy) {
	if p == g.policy {
		return
	}
	g.policy = p
	g.rebuild()
}

// Clone returns an independent copy of g. The immutable Maglev table is
// shared; any later change to either group builds a fresh table for that
// group only.
func (g *Group) Clone() *Group {
	c := *g
	c.members = slices.Clone(g.members)
	c.sids = slices.Clone(g.sids)
	c.slots = slices.Clone(g.slots)
	c.over = slices.Clone(g.over)
	c.queues = slices.Clone(g.queues)
	c.loc = slices.Clone(g.loc)
	return &c
}

// Pick returns the member for a packet with the given hash, or 0 if the
// group is empty. The QUIC policy picks as its fallback here (see
// PickPacket). An unknown policy value picks as Threshold. It takes no
// lock and allocates nothing.
func (g *Group) Pick(hash uint32) Member {
	if len(g.members) == 0 {
		return 0
	}
	p := g.policy
	if p == QUIC {
		p = g.quic.Fallback
	}
	return g.pickHash(p, hash>>g.shift)
}

// PickPacket returns the member for a packet with the given hash and
// transport payload (a UDP payload, or nil), or 0 if the group is empty.
// Under the QUIC policy a payload whose destination connection ID the
// server chose, in the configured layout, and that names a member's server
// ID goes to that member; everything else picks as Pick. Other policies
// ignore the payload. It takes no lock and allocates nothing.
func (g *Group) PickPacket(hash uint32, payload []byte) Member {
	if len(g.members) == 0 {
		return 0
	}
	u := hash >> g.shift
	if g.policy == QUIC {
		return g.pickQUIC(u, payload)
	}
	return g.pickHash(g.policy, u)
}

// pickHash picks by u = hash >> shift with a hash policy; the group is not
// empty.
func (g *Group) pickHash(p Policy, u uint32) Member {
	if len(g.loc) != 0 {
		if m, ok := g.pickLocal(p, u); ok {
			return m
		}
	}
	n := len(g.members)
	var i int
	switch p {
	case Modulo:
		i = int(u % uint32(n))
	case Maglev:
		i = int(g.table[u%MaglevSize])
	default:
		i = int((uint64(u) * uint64(n)) >> (32 - g.shift))
	}
	if g.nover != 0 && g.nover < n && g.over[i] {
		i = g.spill(p, u, i)
	}
	return g.members[i]
}

// rebuild brings the Maglev table and the server ID index in step with the
// members, policy and QUIC configuration.
func (g *Group) rebuild() {
	g.table, g.bySID = nil, nil
	if len(g.members) != 0 {
		if g.policy == Maglev || g.policy == QUIC && g.quic.Fallback == Maglev {
			g.table = buildMaglev(g.maglevKeys())
		}
		if g.policy == QUIC {
			g.bySID = buildBySID(g.sids)
		}
	}
	g.rebuildLocal()
}
