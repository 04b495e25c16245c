package localgroup

import (
	"math/rand/v2"
	"testing"
)

// TestOverloadedRandom: random groups and marks, against the model "the
// plain pick, unless it is overloaded: the next member in policy order
// that is not". Flows of members that are not overloaded never move.
func TestOverloadedRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	hashes := randomHashes(10, 5000)
	for _, p := range []Policy{Threshold, Modulo, Maglev, QUIC} {
		for round := range 20 {
			n := 1 + rng.IntN(10)
			shift := uint(rng.IntN(3))
			g := groupOf(t, p, shift, seq(n)...)
			plain := g.Clone()
			over := map[Member]bool{}
			for _, m := range seq(n) {
				if rng.IntN(3) == 0 {
					over[m] = true
					g.SetOverloaded(m, true)
				}
			}
			if round%5 == 0 { // marks survive a member leaving
				m := seq(n)[rng.IntN(n)]
				g.Remove(m)
				plain.Remove(m)
				delete(over, m)
				if g.Len() == 0 {
					continue
				}
			}
			all := len(over) == g.Len()
			ms := g.Members()
			for _, h := range hashes {
				want := plain.Pick(h)
				if over[want] && !all {
					fb := p
					if p == QUIC {
						fb = plain.quic.Fallback
					}
					u := h >> shift
					if fb == Maglev {
						for k := u % MaglevSize; over[want]; {
							k = (k + 1) % MaglevSize
							want = ms[plain.table[k]]
						}
					} else {
						i := 0
						for ms[i] != want {
							i++
						}
						for over[want] {
							i = (i + 1) % len(ms)
							want = ms[i]
						}
					}
				}
				if got := g.Pick(h); got != want {
					t.Fatalf("%v round %d n=%d over=%v: Pick(%#x) = %d, model %d", p, round, n, over, h, got, want)
				}
			}
		}
	}
}

// TestOverloadedSpread measures where the flows of one overloaded member
// of 8 go: Maglev spreads them over the other 7, threshold hands them all
// to the next member.
func TestOverloadedSpread(t *testing.T) {
	hashes := randomHashes(11, 80000)
	for _, p := range []Policy{Threshold, Maglev} {
		g := groupOf(t, p, 0, seq(8)...)
		g.SetOverloaded(103, true)
		got := map[Member]int{}
		for _, h := range hashes {
			got[g.Pick(h)]++
		}
		if got[103] != 0 {
			t.Errorf("%v: %d flows on the overloaded member", p, got[103])
		}
		most := 0
		for _, c := range got {
			most = max(most, c)
		}
		t.Logf("%v: busiest member %.3f of flows (1/7 = 0.143): %v", p, float64(most)/float64(len(hashes)), got)
		if p == Maglev && float64(most)/float64(len(hashes)) > 1.0/7+0.01 {
			t.Errorf("maglev: busiest member %.3f, want about 1/7", float64(most)/float64(len(hashes)))
		}
		if !g.Overloaded(103) || g.Overloaded(104) || g.SetOverloaded(999, true) {
			t.Error("Overloaded/SetOverloaded bookkeeping")
		}
		g.SetOverloaded(103, false)
		if g.nover != 0 {
			t.Errorf("nover = %d after clearing", g.nover)
		}
	}
}

func TestPickOverloadedAllocs(t *testing.T) {
	g := groupOf(t, Maglev, 1, seq(8)...)
	g.SetOverloaded(101, true)
	g.SetOverloaded(102, true)
	if a := testing.AllocsPerRun(100, func() {
		for h := uint32(0); h < 64; h++ {
			g.Pick(h * 0x9e3779b9)
		}
	}); a != 0 {
		t.Errorf("Pick allocates %v", a)
	}
}
