package pcb

// GroupKey names a local group of a table: comparable, the same in every
// copy. The zero value names no group.
type GroupKey struct {
	proto  Proto
	port   uint16
	fam    Family
	mapped bool
	addr   Addr
}

// GroupKey returns the key of endpoint id's local group; ok is false if id
// is not bound or not in a group.
func (t *Table) GroupKey(id EndpointID) (k GroupKey, ok bool) {
	e, found := t.eps[id]
	if !found || e.conn || !e.w.grouped {
		return GroupKey{}, false
	}
	return GroupKey{proto: e.spec.Proto, port: e.spec.Local.Port(), fam: e.w.fam, mapped: e.w.mapped, addr: e.w.addr}, true
}

// SetOverloaded marks endpoint id overloaded or not in its local group of
// this copy only (localgroup.Group.SetOverloaded): while it is, picks by
// hash steer new flows to the next member that is not. Workers mark the
// members of their own copy from their delivery rings' fill; the marks are
// no Change and are not in other copies. It reports whether id is a group
// member.
func (t *Table) SetOverloaded(id EndpointID, over bool) bool {
	e, found := t.eps[id]
	if !found || e.conn || !e.w.grouped {
		return false
	}
	b := t.bucket(e.spec.Proto, e.spec.Local.Port())
	return b.group(e.w.fam, e.w.addr, e.w.mapped).g.SetOverloaded(uint32(id), over)
}
