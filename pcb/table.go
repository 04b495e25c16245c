package pcb

import (
	"fmt"
	"slices"

	"github.com/xdpmux/xdpmux/localgroup"
)

// MaxQueues is the largest Config.Queues NewTable accepts.
const MaxQueues = 1 << 16

// Config configures a Table.
type Config struct {
	// Queues is the number of NIC queues; the pick ignores the low
	// QueueShift(Queues) bits of the hash, which chose the queue.
	Queues int
	// GroupLimit is the maximum number of members of a local group.
	GroupLimit int
	// Policy is the pick policy of every local group.
	Policy localgroup.Policy
	// QUIC configures the QUIC policy (connection ID layout, fallback);
	// the zero value means localgroup.DefaultQUICConfig().
	QUIC localgroup.QUICConfig
	// DualStackGroups enters IPv6 dual-stack wildcard endpoints with
	// reuseport into a local group of their own, as Linux does, instead of
	// the seed's rule (never grouped, found in step 4). The group is
	// looked up after the v6-only wildcard group for IPv6 packets and
	// after the IPv4 wildcard group for IPv4 packets (SPEC section 3).
	DualStackGroups bool
}

// DefaultConfig returns one queue, groups of at most 256 members and the
// threshold policy.
func DefaultConfig() Config {
	return Config{Queues: 1, GroupLimit: localgroup.DefaultLimit, Policy: localgroup.Threshold,
		QUIC: localgroup.DefaultQUICConfig()}
}

// endpoint is a bound endpoint. It is never modified after Bind, so table
// copies share it.
type endpoint struct {
	id   EndpointID
	spec Spec
	w    wentry
	// for connected endpoints
	conn bool
	ck   connKey
}

// wentry is a listening (not connected) endpoint as step 4 of the lookup
// sees it.
type wentry struct {
	id      EndpointID
	fam     Family // the family it receives as (Spec.Family)
	wild    bool   // bound to the unspecified address
	mapped  bool   // IPv6 dual-stack wildcard: also takes IPv4 packets
	grouped bool   // member of a local group
	addr    Addr
	jail    []Addr // nil unless jailed; shared, never modified
}

// connKey is the exact-match key of a connected endpoint within the bucket
// of its (protocol, local port). It has no padding, so the map hashes it as
// plain memory.
type connKey struct {
	laddr Addr
	raddr Addr
	meta  uint32 // family<<16 | remote port
}

func makeConnKey(fam Family, rport uint16, laddr, raddr Addr) connKey {
	return connKey{laddr: laddr, raddr: raddr, meta: uint32(fam)<<16 | uint32(rport)}
}

// lgroup is a local group of a bucket.
type lgroup struct {
	fam    Family
	wild   bool
	mapped bool // a group of IPv6 dual-stack wildcards (DualStackGroups)
	addr   Addr
	name   string // e.g. "udp/0.0.0.0:53", for errors
	g      *localgroup.Group
}

// bucket holds every endpoint of one (protocol, local port).
type bucket struct {
	conns  connTable // connected endpoints
	groups []lgroup
	all    []wentry // every listening endpoint, in bind order
	plain  []wentry // the listening endpoints not in a group, in bind order
}

func (b *bucket) empty() bool { return b.conns.n == 0 && len(b.all) == 0 }

// page holds the buckets of 256 consecutive ports.
type page [256]*bucket

// Table is a pcb table with its local groups: it binds endpoints under the
// rules of SPEC section 4 and looks up the endpoint of a packet (SPEC
// section 3). It is not safe for concurrent use: each worker owns one copy
// (Clone) and the control plane one more, the authority; every copy gets the
// same sequence of changes (Apply) and so holds the same state.
type Table struct {
	cfg   Config
	shift uint
	ext   [2]bool       // reuseport_ext per protocol index
	pages [2][256]*page // per protocol index, per high byte of the port
	eps   map[EndpointID]*endpoint
	// home is the queue this copy serves (SetHome), localgroup.NoQueue
	// for none: its groups prefer the members that declared it.
	home uint32
}

// protoIndex maps UDP to 0, TCP to 1, anything else to -1.
func protoIndex(p Proto) int {
	switch p {
	case UDP:
		return 0
	case TCP:
		return 1
	}
	return -1
}

// NewTable returns an empty table. Queues must be in 1..MaxQueues, GroupLimit
// in 1..localgroup.MaxLimit, Policy a known policy and QUIC valid (or zero).
func NewTable(cfg Config) (*Table, error) {
	if cfg.QUIC == (localgroup.QUICConfig{}) {
		cfg.QUIC = localgroup.DefaultQUICConfig()
	}
	if err := cfg.QUIC.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	switch {
	case cfg.Queues < 1 || cfg.Queues > MaxQueues:
		return nil, fmt.Errorf("%w: queues %d, want 1..%d", ErrInvalidConfig, cfg.Queues, MaxQueues)
	case cfg.GroupLimit < 1 || cfg.GroupLimit > localgroup.MaxLimit:
		return nil, fmt.Errorf("%w: group limit %d, want 1..%d", ErrInvalidConfig, cfg.GroupLimit, localgroup.MaxLimit)
	case !cfg.Policy.Valid():
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, cfg.Policy)
	}
	return &Table{
		cfg:   cfg,
		shift: localgroup.QueueShift(cfg.Queues),
		ext:   [2]bool{true, true},
		eps:   make(map[EndpointID]*endpoint),
		home:  localgroup.NoQueue,
	}, nil
}

// Config returns the table's configuration, with the current policy.
func (t *Table) Config() Config { return t.cfg }

// Len returns the number of bound endpoints.
func (t *Table) Len() int { return len(t.eps) }

func (t *Table) bucket(p Proto, port uint16) *bucket {
	pi := protoIndex(p)
	if pi < 0 {
		return nil
	}
	pg := t.pages[pi][port>>8]
	if pg == nil {
		return nil
	}
	return pg[port&0xff]
}

func (t *Table) setBucket(p Proto, port uint16, b *bucket) {
	pi := protoIndex(p)
	pg := t.pages[pi][port>>8]
	if pg == nil {
		if b == nil {
			return
		}
		pg = new(page)
		t.pages[pi][port>>8] = pg
	}
	pg[port&0xff] = b
}

func newEndpoint(id EndpointID, s Spec, dualGroups bool) *endpoint {
	s.Jail = slices.Clone(s.Jail)
	e := &endpoint{id: id, spec: s}
	la := AddrFrom(s.Local.Addr())
	if s.Connected() {
		e.conn = true
		e.ck = makeConnKey(s.Family(), s.Remote.Port(), la, AddrFrom(s.Remote.Addr()))
		return e
	}
	e.w = wentry{
		id:      id,
		fam:     s.Family(),
		wild:    s.wildcard(),
		mapped:  s.acceptsMapped(),
		grouped: s.Groupable() || dualGroups && s.dualGroupable(),
		addr:    la,
	}
	for _, j := range s.Jail {
		e.w.jail = append(e.w.jail, AddrFrom(j))
	}
	return e
}

// overlaps reports whether two listening endpoints of the same protocol and
// port claim a common (family, address): same family and same address or
// either one the wildcard; across families only when the IPv6 one is a
// dual-stack wildcard.
func overlaps(a, b *wentry) bool {
	if a.fam == b.fam {
		return a.wild || b.wild || a.addr == b.addr
	}
	return a.mapped || b.mapped
}

// mayShare reports whether two overlapping endpoints may coexist: both set
// reuseport and they have the same owner.
func mayShare(a, b *Spec) bool { return a.ReusePort && b.ReusePort && a.Owner == b.Owner }

func (b *bucket) group(fam Family, addr Addr, mapped bool) *lgroup {
	for i := range b.groups {
		if g := &b.groups[i]; g.fam == fam && g.addr == addr && g.mapped == mapped {
			return g
		}
	}
	return nil
}

// Bind binds endpoint id with spec s. It fails, changing nothing, when s is
// malformed (ErrInvalidSpec), id is 0 or bound (ErrInvalidID), s overlaps a
// binding it may not share (ErrAddrInUse), its local group is full
// (ErrGroupFull) or its slot is taken (ErrSlotInUse). Every copy given the
// same sequence of calls ends in the same state.
func (t *Table) Bind(id EndpointID, s Spec) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if id == 0 {
		return fmt.Errorf("bind %s: %w 0", s, ErrInvalidID)
	}
	if _, ok := t.eps[id]; ok {
		return fmt.Errorf("bind %s: %w %d: already bound", s, ErrInvalidID, id)
	}
	e := newEndpoint(id, s, t.cfg.DualStackGroups)
	if s.HasSlot && (e.conn || !e.w.grouped) {
		return fmt.Errorf("bind: %w %s: slot on an endpoint that enters no local group", ErrInvalidSpec, s)
	}
	if s.HasQueue && (e.conn || !e.w.grouped) {
		return fmt.Errorf("bind: %w %s: queue on an endpoint that enters no local group", ErrInvalidSpec, s)
	}
	if s.HasQueue && s.Queue >= uint32(t.cfg.Queues) {
		return fmt.Errorf("bind: %w %s: queue %d of %d queues", ErrInvalidSpec, s, s.Queue, t.cfg.Queues)
	}
	port := s.Local.Port()
	b := t.bucket(s.Proto, port)
	var g *lgroup
	if b != nil {
		if e.conn {
			if old := b.conns.get(&e.ck); old != 0 {
				return fmt.Errorf("bind %s: %w by endpoint %d %s", s, ErrAddrInUse, old, t.eps[old].spec)
			}
		} else {
			for i := range b.all {
				x := t.eps[b.all[i].id]
				if overlaps(&e.w, &x.w) && !mayShare(&s, &x.spec) {
					return fmt.Errorf("bind %s: %w by endpoint %d %s", s, ErrAddrInUse, x.id, x.spec)
				}
			}
			if e.w.grouped {
				g = b.group(e.w.fam, e.w.addr, e.w.mapped)
				if g != nil && g.g.Len() >= g.g.Limit() {
					return fmt.Errorf("bind %s: local group %s: %w (limit %d members)", s, g.name, ErrGroupFull, g.g.Limit())
				}
				if g != nil && s.HasSlot {
					if err := g.g.CheckSlot(s.Slot); err != nil {
						return fmt.Errorf("bind %s: local group %s: %w", s, g.name, err)
					}
				}
			}
		}
	} else {
		b = new(bucket)
		t.setBucket(s.Proto, port, b)
	}
	// Nothing can fail from here on.
	t.eps[id] = e
	if e.conn {
		b.conns.put(e.ck, id)
		return nil
	}
	b.all = append(b.all, e.w)
	if !e.w.grouped {
		b.plain = append(b.plain, e.w)
		return nil
	}
	if g == nil {
		name := s.Proto.String() + "/" + s.Local.String()
		if e.w.mapped {
			name += " dual-stack"
		}
		b.groups = append(b.groups, lgroup{
			fam:    e.w.fam,
			wild:   e.w.wild,
			mapped: e.w.mapped,
			addr:   e.w.addr,
			name:   name,
			g:      localgroup.New(t.cfg.GroupLimit, t.cfg.Policy, t.shift),
		})
		g = &b.groups[len(b.groups)-1]
		g.g.SetQUIC(t.cfg.QUIC)
		g.g.SetHome(t.home)
	}
	ms := localgroup.MemberSpec{HasSlot: s.HasSlot, Slot: s.Slot, HasQueue: s.HasQueue, Queue: s.Queue}
	if err := g.g.Join(uint32(id), ms); err != nil {
		panic("pcb: group add after checks: " + err.Error())
	}
	return nil
}

// Unbind removes endpoint id. The later members of its local group shift
// down. It returns an error wrapping ErrNotFound if id is not bound.
func (t *Table) Unbind(id EndpointID) error {
	e, ok := t.eps[id]
	if !ok {
		return fmt.Errorf("unbind endpoint %d: %w", id, ErrNotFound)
	}
	delete(t.eps, id)
	s := &e.spec
	b := t.bucket(s.Proto, s.Local.Port())
	if e.conn {
		b.conns.del(&e.ck)
	} else {
		del := func(w wentry) bool { return w.id == id }
		b.all = slices.DeleteFunc(b.all, del)
		b.plain = slices.DeleteFunc(b.plain, del)
		if e.w.grouped {
			for i := range b.groups {
				g := &b.groups[i]
				if g.g.Remove(uint32(id)) {
					if g.g.Len() == 0 {
						b.groups = slices.Delete(b.groups, i, i+1)
					}
					break
				}
			}
		}
	}
	if b.empty() {
		t.setBucket(s.Proto, s.Local.Port(), nil)
	}
	return nil
}

// forBuckets calls fn for every bucket.
func (t *Table) forBuckets(fn func(*bucket)) {
	for pi := range t.pages {
		for _, pg := range t.pages[pi] {
			if pg == nil {
				continue
			}
			for _, b := range pg {
				if b != nil {
					fn(b)
				}
			}
		}
	}
}

// SetPolicy sets the pick policy of every local group, present and future.
func (t *Table) SetPolicy(p localgroup.Policy) {
	t.cfg.Policy = p
	t.forBuckets(func(b *bucket) {
		for i := range b.groups {
			b.groups[i].g.SetPolicy(p)
		}
	})
}

// Policy returns the current pick policy.
func (t *Table) Policy() localgroup.Policy { return t.cfg.Policy }

// SetReuseportExt switches the SO_REUSEPORT extension (lookup steps 2 and 3)
// for one protocol. Off gives legacy BSD behaviour. Other protocols are
// ignored.
func (t *Table) SetReuseportExt(proto Proto, on bool) {
	if pi := protoIndex(proto); pi >= 0 {
		t.ext[pi] = on
	}
}

// ReuseportExt reports whether the extension is on for proto (false for a
// protocol other than UDP and TCP).
func (t *Table) ReuseportExt(proto Proto) bool {
	pi := protoIndex(proto)
	return pi >= 0 && t.ext[pi]
}

// Spec returns the spec endpoint id was bound with.
func (t *Table) Spec(id EndpointID) (Spec, bool) {
	e, ok := t.eps[id]
	if !ok {
		return Spec{}, false
	}
	s := e.spec
	s.Jail = slices.Clone(s.Jail)
	return s, true
}

// GroupMembers returns the members of id's local group in order, or nil if
// id is not bound or not in a group.
func (t *Table) GroupMembers(id EndpointID) []EndpointID {
	e, ok := t.eps[id]
	if !ok || e.conn || !e.w.grouped {
		return nil
	}
	b := t.bucket(e.spec.Proto, e.spec.Local.Port())
	g := b.group(e.w.fam, e.w.addr, e.w.mapped)
	out := make([]EndpointID, 0, g.g.Len())
	for _, m := range g.g.Members() {
		out = append(out, EndpointID(m))
	}
	return out
}

// ServerID returns the server ID of endpoint id in its local group (see
// localgroup.Group.ServerID): what the QUIC policy routes by. ok is false
// if id is not bound, not in a group, or its ID does not fit the layout.
func (t *Table) ServerID(id EndpointID) (sid uint32, ok bool) {
	e, found := t.eps[id]
	if !found || e.conn || !e.w.grouped {
		return 0, false
	}
	b := t.bucket(e.spec.Proto, e.spec.Local.Port())
	return b.group(e.w.fam, e.w.addr, e.w.mapped).g.ServerID(uint32(id))
}

// IDs returns the bound endpoint IDs in increasing order.
func (t *Table) IDs() []EndpointID {
	ids := make([]EndpointID, 0, len(t.eps))
	for id := range t.eps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Clone returns an independent deep copy of t, for a worker.
func (t *Table) Clone() *Table {
	c := &Table{cfg: t.cfg, shift: t.shift, ext: t.ext, eps: make(map[EndpointID]*endpoint, len(t.eps)), home: t.home}
	for id, e := range t.eps {
		c.eps[id] = e // immutable
	}
	for pi := range t.pages {
		for hi, pg := range t.pages[pi] {
			if pg == nil {
				continue
			}
			npg := new(page)
			for lo, b := range pg {
				if b == nil {
					continue
				}
				nb := &bucket{
					conns: b.conns.clone(),
					all:   slices.Clone(b.all),
					plain: slices.Clone(b.plain),
				}
				if len(b.groups) > 0 {
					nb.groups = make([]lgroup, len(b.groups))
					for i, g := range b.groups {
						g.g = g.g.Clone()
						nb.groups[i] = g
					}
				}
				npg[lo] = nb
			}
			c.pages[pi][hi] = npg
		}
	}
	return c
}

// SetHome makes t the copy of queue q's worker: in its local groups a
// packet picks among the members that declared q (Spec.HasQueue), while
// there are any (localgroup.Group.SetHome). Workers call it on their own
// copy; it is no Change. localgroup.NoQueue, the default (the authority's
// and replay's whole-group view), turns it off. The subsets are built here
// and kept in step by every Bind and Unbind, never per packet.
func (t *Table) SetHome(q uint32) {
	t.home = q
	t.forBuckets(func(b *bucket) {
		for i := range b.groups {
			b.groups[i].g.SetHome(q)
		}
	})
}

// Home returns the queue set by SetHome, or localgroup.NoQueue.
func (t *Table) Home() uint32 { return t.home }
