package pcb

import (
	"math/rand/v2"
	"testing"
)

// TestConnTable checks the hash table against a Go map through random puts
// and deletes, with few distinct keys so that probe runs collide.
func TestConnTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var ct connTable
	ref := map[connKey]EndpointID{}
	key := func() connKey {
		var a, b Addr
		a[15], b[15] = byte(rng.IntN(4)), byte(rng.IntN(8))
		return makeConnKey(IPv4, uint16(rng.IntN(16)*37), a, b) // ports spread over the filter's 64 bits
	}
	for i := range 20000 {
		k := key()
		if _, ok := ref[k]; ok && rng.IntN(2) == 0 {
			ct.del(&k)
			delete(ref, k)
		} else if !ok {
			ct.put(k, EndpointID(i+1))
			ref[k] = EndpointID(i + 1)
		}
		if ct.n != len(ref) {
			t.Fatalf("n = %d, want %d", ct.n, len(ref))
		}
		// The remote-port filter must admit every stored key, and a
		// filtered lookup (as Lookup does it) must agree with the map.
		var want uint64
		for k := range ref {
			want |= rportBit(k.meta)
		}
		if ct.rports != want {
			t.Fatalf("step %d: rports %064b, want %064b", i, ct.rports, want)
		}
		for range 4 {
			q := key()
			got := EndpointID(0)
			if ct.mayHave(uint16(q.meta)) {
				got = ct.get(&q)
			}
			if want := ref[q]; got != want {
				t.Fatalf("step %d: get = %d, want %d", i, got, want)
			}
		}
	}
}
