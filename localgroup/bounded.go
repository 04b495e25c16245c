package localgroup

import "slices"

// SetOverloaded marks member m as overloaded (its delivery ring is above
// the fill threshold) or not, in this copy of the group only: consistent
// hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam 2018).
// While m is overloaded, a pick by hash that lands on m moves on to the
// next member that is not: for threshold and modulo the next index (mod
// n), for Maglev the member of the next table entry (mod MaglevSize). When
// every member is overloaded the pick is the plain one. A QUIC packet
// whose server ID names m still goes to m (it belongs to an existing
// connection). It reports whether m is a member.
//
// The marks belong to the worker that owns this copy; Add and Remove keep
// them with their members, Clone copies them. The caller keeps flows it
// has already placed on their member (dataplane's flow table): the pick
// only steers new flows away.
func (g *Group) SetOverloaded(m Member, over bool) bool {
	i := slices.Index(g.members, m)
	if i < 0 {
		return false
	}
	if g.over[i] != over {
		g.over[i] = over
		d := 1
		if !over {
			d = -1
		}
		g.nover += d
		if g.home != NoQueue && g.queues[i] == g.home {
			g.locOver += d
		}
	}
	return true
}

// Overloaded reports whether m is marked overloaded.
func (g *Group) Overloaded(m Member) bool {
	i := slices.Index(g.members, m)
	return i >= 0 && g.over[i]
}

// spill returns the member index to use instead of i, which is
// overloaded: the next one that is not, in the policy's order. The group
// has at least one member that is not overloaded.
func (g *Group) spill(p Policy, u uint32, i int) int {
	if p == Maglev {
		k := u % MaglevSize
		for {
			k++
			if k == MaglevSize {
				k = 0
			}
			if j := int(g.table[k]); !g.over[j] {
				return j
			}
		}
	}
	n := len(g.members)
	for {
		i++
		if i == n {
			i = 0
		}
		if !g.over[i] {
			return i
		}
	}
}
