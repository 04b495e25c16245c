package pcb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpmux/xdpmux/localgroup"
)

// model is a naive reference for Table: a plain slice of every bound
// endpoint in bind order, scanned linearly for each bind and lookup. It
// derives everything from the Specs with netip, independently of Table's
// precomputed entries, and follows FreeBSD's in_pcblookup_hash_locked loop
// literally (newest first) for step 4.
type model struct {
	eps    []mEP
	ext    map[Proto]bool
	policy localgroup.Policy
	shift  uint
	limit  int
	dual   bool // Config.DualStackGroups
	queues int
	maglev map[string]*localgroup.Group
}

type mEP struct {
	id EndpointID
	s  Spec
}

func newModel(cfg Config) *model {
	return &model{
		ext:    map[Proto]bool{UDP: true, TCP: true},
		policy: cfg.Policy,
		shift:  localgroup.QueueShift(cfg.Queues),
		limit:  cfg.GroupLimit,
		dual:   cfg.DualStackGroups,
		queues: cfg.Queues,
		maglev: map[string]*localgroup.Group{},
	}
}

func mFam(s Spec) Family {
	a := s.Local.Addr()
	if a.Is4() || (a.Is4In6() && s.DualStack) {
		return IPv4
	}
	return IPv6
}
func mWild(s Spec) bool     { return s.Local.Addr().IsUnspecified() }
func mDualWild(s Spec) bool { return s.Local.Addr().Is6() && s.DualStack && mWild(s) }
func mConn(s Spec) bool     { return s.Remote.Addr().IsValid() }
func mGrouped(s Spec) bool {
	return s.ReusePort && len(s.Jail) == 0 && !mDualWild(s) && !mConn(s)
}

// grouped reports whether s enters a group: the seed's rule, or, with
// DualStackGroups, a reuseport unjailed dual-stack wildcard.
func (m *model) grouped(s Spec) bool {
	return mGrouped(s) || m.dual && s.ReusePort && len(s.Jail) == 0 && mDualWild(s)
}
func a16(a netip.Addr) [16]byte { return a.As16() }

// errClass reduces an error to the sentinel it wraps.
func errClass(err error) error {
	for _, e := range []error{ErrInvalidSpec, ErrInvalidID, ErrSlotInUse, ErrAddrInUse, ErrGroupFull, ErrNotFound} {
		if errors.Is(err, e) {
			return e
		}
	}
	return err
}

func (m *model) bind(id EndpointID, s Spec) error {
	if s.Validate() != nil {
		return ErrInvalidSpec
	}
	if id == 0 || slices.ContainsFunc(m.eps, func(e mEP) bool { return e.id == id }) {
		return ErrInvalidID
	}
	if (s.HasSlot || s.HasQueue) && !m.grouped(s) {
		return ErrInvalidSpec
	}
	if s.HasQueue && int(s.Queue) >= m.queues {
		return ErrInvalidSpec
	}
	members, slotTaken := 0, false
	for _, e := range m.eps {
		x := e.s
		if x.Proto != s.Proto || x.Local.Port() != s.Local.Port() {
			continue
		}
		if mConn(s) || mConn(x) {
			if mConn(s) && mConn(x) && mFam(s) == mFam(x) &&
				a16(s.Local.Addr()) == a16(x.Local.Addr()) &&
				a16(s.Remote.Addr()) == a16(x.Remote.Addr()) && s.Remote.Port() == x.Remote.Port() {
				return ErrAddrInUse
			}
			continue
		}
		var overlap bool
		if mFam(s) == mFam(x) {
			overlap = mWild(s) || mWild(x) || a16(s.Local.Addr()) == a16(x.Local.Addr())
		} else {
			overlap = mDualWild(s) || mDualWild(x)
		}
		if overlap && !(s.ReusePort && x.ReusePort && s.Owner == x.Owner) {
			return ErrAddrInUse
		}
		if m.grouped(s) && m.grouped(x) && mFam(s) == mFam(x) && a16(s.Local.Addr()) == a16(x.Local.Addr()) && mDualWild(s) == mDualWild(x) {
			members++
			slotTaken = slotTaken || s.HasSlot && x.HasSlot && s.Slot == x.Slot
		}
	}
	if m.grouped(s) && members >= m.limit {
		return ErrGroupFull
	}
	if slotTaken {
		return ErrSlotInUse
	}
	m.eps = append(m.eps, mEP{id, s})
	return nil
}

func (m *model) unbind(id EndpointID) error {
	i := slices.IndexFunc(m.eps, func(e mEP) bool { return e.id == id })
	if i < 0 {
		return ErrNotFound
	}
	m.eps = slices.Delete(m.eps, i, i+1)
	return nil
}

// pick picks among a group's members, given in bind order: slotted
// members first by slot, then the others in bind order (SPEC 3).
func (m *model) pick(eps []mEP, hash uint32) EndpointID {
	eps = slices.Clone(eps)
	key := func(e mEP) int {
		if e.s.HasSlot {
			return int(e.s.Slot)
		}
		return 1 << 20
	}
	slices.SortStableFunc(eps, func(a, b mEP) int { return key(a) - key(b) })
	members := make([]EndpointID, len(eps))
	for i, e := range eps {
		members[i] = e.id
	}
	n := uint64(len(members))
	u := hash >> m.shift
	switch m.policy {
	case localgroup.Modulo:
		return members[uint64(u)%n]
	case localgroup.Maglev:
		ck := fmt.Sprint(m.shift, members)
		for _, e := range eps {
			ck += fmt.Sprint(" ", e.s.HasSlot, e.s.Slot)
		}
		g := m.maglev[ck]
		if g == nil {
			g = localgroup.New(255, localgroup.Maglev, m.shift)
			for _, e := range eps {
				if e.s.HasSlot {
					g.AddSlot(uint32(e.id), e.s.Slot)
				} else {
					g.Add(uint32(e.id))
				}
			}
			m.maglev[ck] = g
		}
		return EndpointID(g.Pick(hash))
	}
	return members[(uint64(u)*n)>>(32-m.shift)]
}

// lookup is the lookup of a packet that arrived on queue home (or of the
// whole-group view, localgroup.NoQueue): in a group where some members
// declared home, the pick is among those only.
func (m *model) lookup(f Flow, hash uint32, home uint32) EndpointID {
	port := func(x Spec) bool { return x.Proto == f.Proto && x.Local.Port() == f.DstPort }
	// 1. exact 4-tuple
	for _, e := range m.eps {
		x := e.s
		if port(x) && mConn(x) && mFam(x) == f.Family && a16(x.Local.Addr()) == f.Dst &&
			a16(x.Remote.Addr()) == f.Src && x.Remote.Port() == f.SrcPort {
			return e.id
		}
	}
	ext := m.ext[f.Proto]
	// 2. and 3. local groups; 3b. the dual-stack wildcard group
	if ext {
		for pass := range 3 {
			var members []mEP
			for _, e := range m.eps {
				x := e.s
				if !port(x) || !m.grouped(x) {
					continue
				}
				var in bool
				switch pass {
				case 0:
					in = mFam(x) == f.Family && !mWild(x) && a16(x.Local.Addr()) == f.Dst
				case 1:
					in = mFam(x) == f.Family && mWild(x) && !mDualWild(x)
				case 2:
					in = mDualWild(x)
				}
				if in {
					members = append(members, e)
				}
			}
			var local []mEP
			for _, e := range members {
				if home != localgroup.NoQueue && e.s.HasQueue && e.s.Queue == home {
					local = append(local, e)
				}
			}
			if len(local) > 0 {
				return m.pick(local, hash)
			}
			if len(members) > 0 {
				return m.pick(members, hash)
			}
		}
	}
	// 4. FreeBSD's wildcard loop, newest first.
	var jailWild, localExact, localWild, localWildMapped EndpointID
	for i := len(m.eps) - 1; i >= 0; i-- {
		e := m.eps[i]
		x := e.s
		if !port(x) || mConn(x) || (ext && m.grouped(x)) {
			continue
		}
		if f.Family == IPv4 {
			if mFam(x) != IPv4 && !mDualWild(x) {
				continue
			}
		} else if mFam(x) != IPv6 {
			continue
		}
		injail := len(x.Jail) > 0
		if injail {
			if !slices.ContainsFunc(x.Jail, func(a netip.Addr) bool { return a16(a) == f.Dst }) {
				continue
			}
		} else if localExact != 0 {
			continue
		}
		switch {
		case !mWild(x) && a16(x.Local.Addr()) == f.Dst:
			if injail {
				return e.id
			}
			localExact = e.id
		case mWild(x):
			if f.Family == IPv4 && mDualWild(x) {
				localWildMapped = e.id
			} else if injail {
				jailWild = e.id
			} else {
				localWild = e.id
			}
		}
	}
	for _, id := range []EndpointID{jailWild, localExact, localWild} {
		if id != 0 {
			return id
		}
	}
	return localWildMapped
}

var (
	rv4    = []string{"0.0.0.0", "198.18.0.1", "198.18.0.2"}
	rv6    = []string{"::", "2001:db8::1", "2001:db8::2", "::ffff:198.18.0.1"}
	rports = []uint16{53, 80}
	rrem   = []string{"198.18.1.1:1000", "198.18.1.2:2000", "[2001:db8:1::1]:1000", "[::ffff:198.18.1.1]:1000"}
	rjail  = []string{"198.18.0.1", "198.18.0.2", "2001:db8::1"}
	rdst4  = []string{"198.18.0.1", "198.18.0.2", "198.18.0.3"}
	rdst6  = []string{"2001:db8::1", "2001:db8::2", "2001:db8::3", "::ffff:198.18.0.1"}
	rsrc4  = []string{"198.18.1.1", "198.18.1.2", "198.18.1.3"}
	rsrc6  = []string{"2001:db8:1::1", "2001:db8:1::2"}
)

func pickOf[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// randSpec returns a random spec for a table with the given number of
// queues.
func randSpec(rng *rand.Rand, queues int) Spec {
	s := Spec{Proto: UDP, Owner: "a"}
	if rng.IntN(2) == 0 {
		s.Proto = TCP
	}
	var addr string
	if rng.IntN(2) == 0 {
		addr = pickOf(rng, rv4)
	} else {
		addr = pickOf(rng, rv6)
		s.DualStack = rng.IntN(3) == 0
	}
	s.Local = netip.AddrPortFrom(netip.MustParseAddr(addr), pickOf(rng, rports))
	if rng.IntN(50) == 0 {
		s.Local = netip.AddrPortFrom(s.Local.Addr(), 0)
	}
	s.ReusePort = rng.IntN(10) < 8
	if s.ReusePort && rng.IntN(3) == 0 {
		// Slots from 100 up: no unslotted member of these small groups
		// holds their server IDs, which the model does not track.
		s.HasSlot, s.Slot = true, uint32(100+rng.IntN(4))
	}

	if rng.IntN(8) == 0 {
		s.Owner = "b"
	}
	if rng.IntN(7) == 0 {
		for _, j := range rjail {
			if rng.IntN(2) == 0 {
				s.Jail = append(s.Jail, netip.MustParseAddr(j))
			}
		}
	}
	if rng.IntN(7) == 0 {
		s.Remote = netip.MustParseAddrPort(pickOf(rng, rrem))
	}
	if s.ReusePort && rng.IntN(3) == 0 || rng.IntN(50) == 0 {
		s.HasQueue, s.Queue = true, uint32(rng.IntN(queues))
		if rng.IntN(20) == 0 {
			s.Queue = uint32(queues) // out of range
		}
	}
	return s
}

func randFlow(rng *rand.Rand) Flow {
	f := Flow{Proto: UDP, Family: IPv4, SrcPort: pickOf(rng, []uint16{1000, 2000, 3000}), DstPort: pickOf(rng, []uint16{53, 80, 81})}
	if rng.IntN(2) == 0 {
		f.Proto = TCP
	}
	if rng.IntN(2) == 0 {
		f.Dst = AddrFrom(netip.MustParseAddr(pickOf(rng, rdst4)))
		f.Src = AddrFrom(netip.MustParseAddr(pickOf(rng, rsrc4)))
	} else {
		f.Family = IPv6
		f.Dst = AddrFrom(netip.MustParseAddr(pickOf(rng, rdst6)))
		f.Src = AddrFrom(netip.MustParseAddr(pickOf(rng, rsrc6)))
		if rng.IntN(4) == 0 {
			f.Src = AddrFrom(netip.MustParseAddr(pickOf(rng, rsrc4)))
		}
	}
	return f
}

// TestRandomAgainstModel drives a Table, a clone taken at the start and a
// clone taken midway (both fed the same Changes through Apply) and the
// model with random binds, unbinds, reuseport_ext toggles and policy
// changes, and compares bind errors and lookups of random flows.
func TestRandomAgainstModel(t *testing.T) {
	seeds, ops := 6, 2000
	if testing.Short() {
		seeds, ops = 4, 1000
	}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 99))
		cfg := Config{Queues: 1 + rng.IntN(8), GroupLimit: 2 + rng.IntN(4), Policy: localgroup.Policy(rng.IntN(3)),
			DualStackGroups: seed%2 == 1}
		tb := newTable(t, cfg)
		m := newModel(cfg)
		copies := []*Table{tb.Clone()}
		// One copy per queue, as the workers hold, each preferring the
		// members that declared its queue; one made before the binds,
		// the others midway.
		homes := []uint32{localgroup.NoQueue}
		q0 := tb.Clone()
		q0.SetHome(0)
		copies, homes = append(copies, q0), append(homes, 0)
		nextID := EndpointID(1)
		binds, fails := 0, map[error]int{}
		apply := func(c Change) error {
			err := tb.Apply(c)
			for i, cp := range copies {
				if cerr := cp.Apply(c); errClass(cerr) != errClass(err) {
					t.Fatalf("seed %d: copy %d Apply(%+v) = %v, table %v", seed, i, c, cerr, err)
				}
			}
			return err
		}
		for op := range ops {
			if op == ops/2 {
				copies, homes = append(copies, tb.Clone()), append(homes, localgroup.NoQueue)
				for q := 1; q < cfg.Queues; q++ {
					c := tb.Clone()
					c.SetHome(uint32(q))
					copies, homes = append(copies, c), append(homes, uint32(q))
				}
			}
			switch r := rng.IntN(100); {
			case r < 60:
				s := randSpec(rng, cfg.Queues)
				id := nextID
				if rng.IntN(100) == 0 {
					id = 0
				}
				nextID++
				err := apply(Change{Op: OpBind, ID: id, Spec: s})
				want := m.bind(id, s)
				if errClass(err) != want {
					t.Fatalf("seed %d op %d: Bind(%d, %v %+v) = %v, model %v", seed, op, id, s, s, err, want)
				}
				if err == nil {
					binds++
				} else {
					fails[want]++
				}
			case r < 92:
				var id EndpointID
				if len(m.eps) > 0 && rng.IntN(10) > 0 {
					id = pickOf(rng, m.eps).id
				} else {
					id = EndpointID(rng.IntN(int(nextID) + 1))
				}
				err := apply(Change{Op: OpUnbind, ID: id})
				if want := m.unbind(id); errClass(err) != want {
					t.Fatalf("seed %d op %d: Unbind(%d) = %v, model %v", seed, op, id, err, want)
				}
			case r < 98:
				p, on := pickOf(rng, []Proto{UDP, TCP}), rng.IntN(3) > 0
				apply(Change{Op: OpSetReuseportExt, Proto: p, On: on})
				m.ext[p] = on
			default:
				p := localgroup.Policy(rng.IntN(3))
				if err := apply(Change{Op: OpSetPolicy, Policy: p}); err != nil {
					t.Fatal(err)
				}
				m.policy = p
			}
			if tb.Len() != len(m.eps) {
				t.Fatalf("seed %d op %d: Len %d, model %d", seed, op, tb.Len(), len(m.eps))
			}
			for range 20 {
				f, h := randFlow(rng), rng.Uint32()
				want := m.lookup(f, h, localgroup.NoQueue)
				if got := tb.Lookup(&f, h); got != want {
					t.Fatalf("seed %d op %d: Lookup(%+v, %#x) = %d, model %d\nbound: %v\next %v policy %v",
						seed, op, f, h, got, want, m.eps, m.ext, m.policy)
				}
				for i, cp := range copies {
					want := m.lookup(f, h, homes[i])
					if got := cp.Lookup(&f, h); got != want {
						t.Fatalf("seed %d op %d: copy %d (home %d) Lookup = %d, model %d", seed, op, i, homes[i], got, want)
					}
				}
			}
		}
		t.Logf("seed %d (%+v): %d binds, failures %v, %d bound at end", seed, cfg, binds, fails, len(m.eps))
	}
}
