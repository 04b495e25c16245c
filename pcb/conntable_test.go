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
		return makeConnKey(IPv4, uint16(rng.IntN(16)), a, b)
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
		for range 4 {
			q := key()
			if got, want := ct.get(&q), ref[q]; got != want {
				t.Fatalf("step %d: get = %d, want %d", i, got, want)
			}
		}
	}
}
