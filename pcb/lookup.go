package pcb

import "github.com/xdpmux/xdpmux/localgroup"

// Lookup returns the endpoint that receives a packet with flow f and hash
// (the packet's Toeplitz hash), or 0. In order, the first match wins
// (SPEC section 3):
//
//  1. the connected endpoint with the packet's exact 4-tuple;
//  2. with reuseport_ext on for f.Proto: the local group bound to
//     (f.Dst, f.DstPort), member picked by hash;
//  3. with reuseport_ext on: the local group bound to the wildcard address
//     of f.Family and f.DstPort; then, in a table with DualStackGroups,
//     the group of IPv6 dual-stack wildcards of f.DstPort (for IPv4 and
//     IPv6 packets alike);
//  4. the wildcard table, as BSD's in_pcblookup_hash (see wildLookup);
//     with reuseport_ext on, group members are not considered here.
//
// It allocates nothing, takes no lock and makes no interface call.
func (t *Table) Lookup(f *Flow, hash uint32) EndpointID { return t.LookupPacket(f, hash, nil) }

// LookupPacket is Lookup for a packet whose transport payload the pick may
// read: under the QUIC policy, steps 2 and 3 pick the group member with
// localgroup.Group.PickPacket(hash, payload). payload is the UDP payload,
// or nil. It allocates nothing, takes no lock and makes no interface call.
func (t *Table) LookupPacket(f *Flow, hash uint32, payload []byte) EndpointID {
	pi := protoIndex(f.Proto)
	if pi < 0 || (f.Family != IPv4 && f.Family != IPv6) {
		return 0
	}
	pg := t.pages[pi][f.DstPort>>8]
	if pg == nil {
		return 0
	}
	b := pg[f.DstPort&0xff]
	if b == nil {
		return 0
	}
	if b.conns.n != 0 && b.conns.mayHave(f.SrcPort) {
		k := makeConnKey(f.Family, f.SrcPort, f.Dst, f.Src)
		if id := b.conns.get(&k); id != 0 {
			return id
		}
	}
	list := b.all
	if t.ext[pi] {
		var wg, mg *localgroup.Group
		for i := range b.groups {
			g := &b.groups[i]
			switch {
			case g.mapped:
				mg = g.g // takes both families
			case g.fam != f.Family:
			case g.wild:
				wg = g.g
			case g.addr == f.Dst:
				return EndpointID(g.g.PickPacket(hash, payload))
			}
		}
		if wg == nil {
			wg = mg
		}
		if wg != nil {
			return EndpointID(wg.PickPacket(hash, payload))
		}
		list = b.plain
	}
	return wildLookup(list, f)
}

// wildLookup is step 4, FreeBSD's in_pcblookup_hash_locked wildcard pass
// over listening endpoints in bind order. Preference: a jailed endpoint
// bound to f.Dst (the most recently bound), a jailed wildcard (the earliest),
// an endpoint bound to f.Dst (the most recently bound), a wildcard (the
// earliest), and for an IPv4 packet last an IPv6 dual-stack wildcard (the
// earliest). A jailed endpoint is only considered when f.Dst is in its jail.
func wildLookup(list []wentry, f *Flow) EndpointID {
	var jailExact, jailWild, exact, wild, mapped EndpointID
	for i := range list {
		e := &list[i]
		viaMapped := false
		if e.fam != f.Family {
			if !e.mapped || f.Family != IPv4 {
				continue
			}
			viaMapped = true
		}
		if e.jail != nil && !inJail(e.jail, &f.Dst) {
			continue
		}
		switch {
		case viaMapped:
			if mapped == 0 {
				mapped = e.id
			}
		case e.wild:
			if e.jail != nil {
				if jailWild == 0 {
					jailWild = e.id
				}
			} else if wild == 0 {
				wild = e.id
			}
		case e.addr == f.Dst:
			if e.jail != nil {
				jailExact = e.id
			} else {
				exact = e.id
			}
		}
	}
	switch {
	case jailExact != 0:
		return jailExact
	case jailWild != 0:
		return jailWild
	case exact != 0:
		return exact
	case wild != 0:
		return wild
	}
	return mapped
}

func inJail(jail []Addr, a *Addr) bool {
	for i := range jail {
		if jail[i] == *a {
			return true
		}
	}
	return false
}
