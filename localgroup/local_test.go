package localgroup

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// localMember is a member with its slot and declared queue, for the tests.
type localMember struct {
	slotted
	queue uint32 // NoQueue: none
}

func (x localMember) spec() MemberSpec {
	return MemberSpec{HasSlot: x.has, Slot: x.slot, HasQueue: x.queue != NoQueue, Queue: x.queue}
}

// refLocal is the naive model of a queue-local pick: the members that
// declared home, if there are any and not all are overloaded, else all
// members, built into a fresh group without queues (so slot order,
// Maglev permutations and server IDs come from the same rules) and marked
// as the group is.
func refLocal(t *testing.T, p Policy, shift uint, ms []localMember, home uint32, over map[Member]bool) *Group {
	t.Helper()
	var sub []localMember
	for _, x := range ms {
		if home != NoQueue && x.queue == home {
			sub = append(sub, x)
		}
	}
	if !slices.ContainsFunc(sub, func(x localMember) bool { return !over[x.m] }) {
		sub = ms
	}
	g := New(0, p, shift)
	for _, x := range sub {
		s := x.spec()
		s.HasQueue = false
		if err := g.Join(x.m, s); err != nil {
			t.Fatal(err)
		}
	}
	for m := range over {
		g.SetOverloaded(m, true)
	}
	return g
}

// TestLocalRandom: random groups whose members declare random queues (or
// none), random homes and overload marks, against the model, under every
// policy; changes after SetHome (a member leaving, one joining) keep the
// subset in step, and Clone copies it.
func TestLocalRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 17))
	hashes := randomHashes(11, 3000)
	for _, p := range []Policy{Threshold, Modulo, Maglev, QUIC} {
		for round := range 30 {
			n := 1 + rng.IntN(8)
			queues := 1 + rng.IntN(4)
			shift := QueueShift(queues)
			var ms []localMember
			for i := range n {
				x := localMember{slotted: slotted{m: Member(i + 1)}, queue: NoQueue}
				if rng.IntN(4) == 0 {
					x.has, x.slot = true, uint32(100+i)
				}
				if rng.IntN(3) > 0 {
					x.queue = uint32(rng.IntN(queues))
				}
				ms = append(ms, x)
			}
			home := uint32(rng.IntN(queues))
			if rng.IntN(8) == 0 {
				home = NoQueue
			}
			g := New(0, p, shift)
			g.SetHome(home)
			for _, x := range ms {
				if err := g.Join(x.m, x.spec()); err != nil {
					t.Fatal(err)
				}
			}
			if round%3 == 0 { // a change after the home was set
				i := rng.IntN(len(ms))
				g.Remove(ms[i].m)
				ms = slices.Delete(ms, i, i+1)
				x := localMember{slotted: slotted{m: 99}, queue: home}
				if err := g.Join(x.m, x.spec()); err != nil {
					t.Fatal(err)
				}
				ms = append(ms, x)
			}
			over := map[Member]bool{}
			for _, x := range ms {
				if rng.IntN(4) == 0 {
					over[x.m] = true
					g.SetOverloaded(x.m, true)
				}
			}
			if round%2 == 1 {
				g = g.Clone()
			}
			ref := refLocal(t, p, shift, ms, home, over)
			for _, h := range hashes {
				h = h&^(1<<shift-1) | home&(1<<shift-1) // a packet of queue home
				if got, want := g.Pick(h), ref.Pick(h); got != want {
					t.Fatalf("%v round %d home %d members %+v over %v: Pick(%#x) = %d, model %d", p, round, home, ms, over, h, got, want)
				}
			}
		}
	}
}

// TestLocalQUICServerID: a QUIC packet naming a member of another queue
// still reaches it; an Initial picks among the home queue's members.
func TestLocalQUICServerID(t *testing.T) {
	g := New(0, QUIC, 1)
	g.SetHome(0)
	for m := Member(1); m <= 4; m++ {
		if err := g.Join(m, MemberSpec{HasQueue: true, Queue: (uint32(m) - 1) % 2}); err != nil {
			t.Fatal(err)
		}
	}
	if got := g.Local(); !slices.Equal(got, []Member{1, 3}) {
		t.Fatalf("Local() = %v, want [1 3]", got)
	}
	lb := g.QUICConfig().LB
	for m := Member(1); m <= 4; m++ {
		sid, _ := g.ServerID(m)
		if got := g.PickPacket(0x12345678, shortPacket(lb, sid)); got != m {
			t.Errorf("short packet for server ID %d: %d, want %d", sid, got, m)
		}
	}
	seen := map[Member]int{}
	for _, h := range randomHashes(3, 2000) {
		seen[g.PickPacket(h&^1, initialPacket(lb, 0))]++
	}
	if len(seen) != 2 || seen[1] == 0 || seen[3] == 0 {
		t.Errorf("Initials of queue 0 went to %v, want members 1 and 3 only", seen)
	}
}

func TestLocalHomeOff(t *testing.T) {
	g := groupOf(t, Maglev, 1, 1, 2)
	plain := g.Clone()
	if err := g.Join(3, MemberSpec{HasQueue: true, Queue: 1}); err != nil {
		t.Fatal(err)
	}
	plain.Add(3)
	for _, h := range randomHashes(4, 1000) {
		if g.Pick(h) != plain.Pick(h) {
			t.Fatalf("without a home, a declared queue changed the pick of %#x", h)
		}
	}
	if q, ok := g.Queue(3); !ok || q != 1 {
		t.Errorf("Queue(3) = %d, %v", q, ok)
	}
	if _, ok := g.Queue(1); ok {
		t.Error("Queue(1): member without a queue reported one")
	}
	if err := g.Join(4, MemberSpec{HasQueue: true, Queue: NoQueue}); !errors.Is(err, ErrBadQueue) {
		t.Errorf("Join with queue NoQueue: %v, want ErrBadQueue", err)
	}
}

func TestPickLocalAllocs(t *testing.T) {
	for _, p := range []Policy{Threshold, Modulo, Maglev, QUIC} {
		g := New(0, p, 1)
		g.SetHome(1)
		for m := Member(1); m <= 8; m++ {
			g.Join(m, MemberSpec{HasQueue: true, Queue: uint32(m) % 2})
		}
		g.SetOverloaded(3, true)
		h := uint32(1)
		pkt := shortPacket(g.QUICConfig().LB, 3)
		allocs := testing.AllocsPerRun(1000, func() {
			h += 0x9e3779b8
			g.Pick(h)
			g.PickPacket(h, pkt)
		})
		if allocs != 0 {
			t.Errorf("%v local Pick: %v allocs, want 0", p, allocs)
		}
	}
}
