package localgroup

// MaglevSize is M, the number of slots of a Maglev lookup table. It is a
// prime and does not depend on the number of members: a size that changed
// with n would move most flows whenever a member came or went.
const MaglevSize = 65537

const maglevEmpty = 0xffff

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// maglevPerm returns the offset and skip of the permutation of the table
// slots for a member with key k (its ID, or 1<<32 | slot when it has a
// slot): slot(j) = (offset + j*skip) mod MaglevSize. They come from two
// different 64-bit mixes of the key, so every copy of a group, and the
// group before and after a change, give a member the same permutation.
func maglevPerm(k uint64) (offset, skip uint32) {
	offset = uint32(mix64(k^0x6d5a56da255b0ec2) % MaglevSize)
	skip = uint32(mix64(k^0x41672532d43a38fb)%(MaglevSize-1)) + 1
	return offset, skip
}

// buildMaglev fills a table with the Maglev populate algorithm (Eisenbud et
// al. 2016, Pseudocode 1): members take turns, in order, each claiming the
// next slot of its permutation that is still empty, until every slot is
// taken. keys are the members' permutation keys, in member order; entries
// are member indexes.
func buildMaglev(keys []uint64) []uint16 {
	n := len(keys)
	table := make([]uint16, MaglevSize)
	for i := range table {
		table[i] = maglevEmpty
	}
	next := make([]uint32, n) // next slot to try, per member
	skip := make([]uint32, n)
	for i, k := range keys {
		next[i], skip[i] = maglevPerm(k)
	}
	filled := 0
	for {
		for i := range n {
			c, s := next[i], skip[i]
			for table[c] != maglevEmpty {
				c += s
				if c >= MaglevSize {
					c -= MaglevSize
				}
			}
			table[c] = uint16(i)
			c += s
			if c >= MaglevSize {
				c -= MaglevSize
			}
			next[i] = c
			filled++
			if filled == MaglevSize {
				return table
			}
		}
	}
}
