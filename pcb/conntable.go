package pcb

import (
	"encoding/binary"
	"slices"
)

// connTable maps the connKey of connected endpoints to their IDs: an
// open-addressing hash table with linear probing and backward-shift
// deletion. It is cheaper per lookup than a Go map for a 36-byte key and
// clones with one slice copy. ID 0 marks an empty slot.
type connTable struct {
	slots []connSlot // power-of-two length, nil when empty
	n     int
	// rports has bit (remote port mod 64) set for every entry: a lookup
	// whose bit is clear misses without building, hashing and comparing a
	// 36-byte key, which keeps the common miss (a listener's traffic on a
	// port that also has a few connected endpoints) cheap.
	rports uint64
}

func rportBit(meta uint32) uint64 { return 1 << (meta & 63) }

type connSlot struct {
	key connKey
	id  EndpointID
}

func (k *connKey) hash() uint64 {
	const m = 0x9e3779b97f4a7c15
	h := uint64(k.meta) * m
	h = (h ^ binary.LittleEndian.Uint64(k.raddr[8:])) * m
	h = (h ^ binary.LittleEndian.Uint64(k.raddr[:8])) * m
	h = (h ^ binary.LittleEndian.Uint64(k.laddr[8:])) * m
	h = (h ^ binary.LittleEndian.Uint64(k.laddr[:8])) * m
	return h ^ h>>32
}

// mayHave reports whether an entry with remote port rport may be present.
func (t *connTable) mayHave(rport uint16) bool { return t.rports&(1<<(rport&63)) != 0 }

// get returns the ID stored for k, or 0.
func (t *connTable) get(k *connKey) EndpointID {
	if t.n == 0 {
		return 0
	}
	mask := uint64(len(t.slots) - 1)
	for i := k.hash() & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.id == 0 || s.key == *k {
			return s.id
		}
	}
}

// put stores id under k, which must not be present.
func (t *connTable) put(k connKey, id EndpointID) {
	if (t.n+1)*2 > len(t.slots) {
		t.resize(max(8, 2*len(t.slots)))
	}
	t.insert(k, id)
	t.n++
	t.rports |= rportBit(k.meta)
}

func (t *connTable) insert(k connKey, id EndpointID) {
	mask := uint64(len(t.slots) - 1)
	i := k.hash() & mask
	for t.slots[i].id != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = connSlot{k, id}
}

func (t *connTable) resize(size int) {
	old := t.slots
	t.slots = make([]connSlot, size)
	for _, s := range old {
		if s.id != 0 {
			t.insert(s.key, s.id)
		}
	}
}

// del removes k if present.
func (t *connTable) del(k *connKey) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := k.hash() & mask
	for {
		s := &t.slots[i]
		if s.id == 0 {
			return
		}
		if s.key == *k {
			break
		}
		i = (i + 1) & mask
	}
	// Backward-shift deletion: move later entries of the probe run into
	// the hole when their home slot does not lie after the hole.
	for j := i; ; {
		j = (j + 1) & mask
		if t.slots[j].id == 0 {
			break
		}
		home := t.slots[j].key.hash() & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = connSlot{}
	t.n--
	t.rports = 0
	if t.n == 0 {
		t.slots = nil
		return
	}
	for j := range t.slots { // cold path: rebuild the filter
		if t.slots[j].id != 0 {
			t.rports |= rportBit(t.slots[j].key.meta)
		}
	}
}

func (t *connTable) clone() connTable {
	return connTable{slots: slices.Clone(t.slots), n: t.n, rports: t.rports}
}
