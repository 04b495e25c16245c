package localgroup

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/xdpmux/xdpmux/bench/fairness"
)

func groupOf(t testing.TB, policy Policy, shift uint, members ...Member) *Group {
	t.Helper()
	g := New(0, policy, shift)
	for _, m := range members {
		if err := g.Add(m); err != nil {
			t.Fatalf("Add(%d): %v", m, err)
		}
	}
	return g
}

func seq(n int) []Member {
	m := make([]Member, n)
	for i := range m {
		m[i] = Member(100 + i)
	}
	return m
}

func TestQueueShift(t *testing.T) {
	tests := []struct {
		queues int
		want   uint
	}{{0, 0}, {1, 0}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {8, 3}, {9, 4}, {64, 6}, {65, 7}}
	for _, tt := range tests {
		if got := QueueShift(tt.queues); got != tt.want {
			t.Errorf("QueueShift(%d) = %d, want %d", tt.queues, got, tt.want)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	for _, p := range []Policy{Threshold, Modulo, Maglev, QUIC} {
		got, err := ParsePolicy(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v, want %v", p.String(), got, err, p)
		}
	}
	var zero Policy
	if zero != Threshold {
		t.Errorf("zero Policy = %v, want threshold", zero)
	}
	_, err := ParsePolicy("random")
	if !errors.Is(err, ErrUnknownPolicy) || !strings.Contains(err.Error(), `"random"`) {
		t.Errorf("ParsePolicy(random) error = %v, want ErrUnknownPolicy naming the value", err)
	}
	if s := Policy(9).String(); s != "policy(9)" {
		t.Errorf("Policy(9).String() = %q", s)
	}
}

// TestPickFormula checks hand-computed picks (SPEC 3). Members are 100+index,
// so want is the member index.
func TestPickFormula(t *testing.T) {
	tests := []struct {
		policy Policy
		shift  uint
		n      int
		hash   uint32
		want   int
	}{
		// threshold, s=0: (hash*n)>>32
		{Threshold, 0, 3, 0, 0},
		{Threshold, 0, 3, 0xffffffff, 2},
		{Threshold, 0, 3, 0x55555555, 0}, // *3 = 0xffffffff
		{Threshold, 0, 3, 0x55555556, 1}, // *3 = 0x1_00000002
		{Threshold, 0, 3, 0xaaaaaaaa, 1}, // *3 = 0x1_fffffffe
		{Threshold, 0, 3, 0xaaaaaaab, 2}, // *3 = 0x2_00000001
		{Threshold, 0, 1, 0xffffffff, 0},
		// threshold, s=1: u=hash>>1, (u*n)>>31
		{Threshold, 1, 3, 1, 0},          // low bit ignored
		{Threshold, 1, 3, 0x55555555, 0}, // u=0x2aaaaaaa, *3 = 0x7ffffffe
		{Threshold, 1, 3, 0x55555557, 1}, // u=0x2aaaaaab, *3 = 0x80000001
		{Threshold, 1, 3, 0x80000000, 1}, // u=0x40000000, *3 = 0xc0000000
		{Threshold, 1, 3, 0xffffffff, 2}, // u=0x7fffffff, *3 = 0x1_7ffffffd
		// threshold, s=2, n=4: the top two bits of the hash
		{Threshold, 2, 4, 0x3fffffff, 0},
		{Threshold, 2, 4, 0x40000003, 1},
		{Threshold, 2, 4, 0x80000000, 2},
		{Threshold, 2, 4, 0xc0000000, 3},
		// threshold, s=3: u=hash>>3, (u*5)>>29
		{Threshold, 3, 5, 0x33333330, 0}, // u=0x06666666, *5 = 0x1ffffffe
		{Threshold, 3, 5, 0x33333338, 1}, // u=0x06666667, *5 = 0x20000003
		{Threshold, 3, 5, 0x80000000, 2}, // u=0x10000000, *5 = 0x50000000
		{Threshold, 3, 5, 0xffffffff, 4}, // u=0x1fffffff, *5 = 0x9ffffffb
		{Threshold, 3, 5, 7, 0},
		// modulo: (hash>>s) % n
		{Modulo, 0, 3, 10, 1},
		{Modulo, 0, 3, 0xffffffff, 0}, // 4294967295 = 3*1431655765
		{Modulo, 1, 3, 10, 2},         // u=5
		{Modulo, 1, 3, 11, 2},         // u=5
		{Modulo, 2, 3, 10, 2},         // u=2
		{Modulo, 3, 5, 0xffffffff, 1}, // u=536870911
		{Modulo, 3, 5, 7, 0},          // u=0
		{Modulo, 3, 5, 8 * 9, 4},      // u=9
	}
	for _, tt := range tests {
		g := groupOf(t, tt.policy, tt.shift, seq(tt.n)...)
		if got := g.Pick(tt.hash); got != Member(100+tt.want) {
			t.Errorf("%v s=%d n=%d Pick(%#x) = %d, want %d", tt.policy, tt.shift, tt.n, tt.hash, got, 100+tt.want)
		}
	}
}

func TestPickMaglevIndexesTable(t *testing.T) {
	for _, shift := range []uint{0, 1, 2, 3} {
		g := groupOf(t, Maglev, shift, seq(7)...)
		rng := rand.New(rand.NewPCG(1, uint64(shift)))
		for range 1000 {
			h := rng.Uint32()
			want := g.members[g.table[(h>>shift)%MaglevSize]]
			if got := g.Pick(h); got != want {
				t.Fatalf("s=%d Pick(%#x) = %d, want %d", shift, h, got, want)
			}
		}
	}
}

func TestPickEmpty(t *testing.T) {
	for _, p := range []Policy{Threshold, Modulo, Maglev} {
		g := New(0, p, 2)
		if got := g.Pick(12345); got != 0 {
			t.Errorf("%v empty Pick = %d, want 0", p, got)
		}
		g.Add(5)
		g.Remove(5)
		if got := g.Pick(12345); got != 0 {
			t.Errorf("%v emptied Pick = %d, want 0", p, got)
		}
	}
}

func TestRemoveShiftsDown(t *testing.T) {
	g := groupOf(t, Threshold, 0, 1, 2, 3, 4, 5)
	steps := []struct {
		remove Member
		ok     bool
		want   []Member
	}{
		{3, true, []Member{1, 2, 4, 5}},
		{3, false, []Member{1, 2, 4, 5}},
		{1, true, []Member{2, 4, 5}},
		{5, true, []Member{2, 4}},
		{2, true, []Member{4}},
		{4, true, []Member{}},
	}
	for _, s := range steps {
		if ok := g.Remove(s.remove); ok != s.ok {
			t.Errorf("Remove(%d) = %v, want %v", s.remove, ok, s.ok)
		}
		if got := g.Members(); !slices.Equal(got, s.want) || g.Len() != len(s.want) {
			t.Errorf("after Remove(%d): members %v len %d, want %v", s.remove, got, g.Len(), s.want)
		}
	}
	// With n=2 and s=0, the pick of index 1 now hits the member that was third.
	g = groupOf(t, Threshold, 0, 1, 2, 3)
	g.Remove(2)
	if got := g.Pick(0xffffffff); got != 3 {
		t.Errorf("after shift-down Pick = %d, want 3", got)
	}
}

func TestGroupFull(t *testing.T) {
	for _, limit := range []int{0, 1, 4, 256, 300} {
		g := New(limit, Threshold, 0)
		want := limit
		if limit == 0 {
			want = DefaultLimit
		}
		for i := range want {
			if err := g.Add(Member(i + 1)); err != nil {
				t.Fatalf("limit %d: Add #%d: %v", limit, i, err)
			}
		}
		err := g.Add(Member(want + 1))
		if !errors.Is(err, ErrGroupFull) {
			t.Fatalf("limit %d: Add beyond limit: %v, want ErrGroupFull", limit, err)
		}
		if !strings.Contains(err.Error(), "limit "+itoa(want)) {
			t.Errorf("error %q does not name the limit %d", err, want)
		}
		if g.Len() != want {
			t.Errorf("limit %d: Len after failed Add = %d", limit, g.Len())
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestAddBadMember(t *testing.T) {
	g := groupOf(t, Threshold, 0, 7)
	for _, m := range []Member{0, 7} {
		if err := g.Add(m); !errors.Is(err, ErrBadMember) {
			t.Errorf("Add(%d) = %v, want ErrBadMember", m, err)
		}
	}
	if g.Len() != 1 {
		t.Errorf("Len = %d, want 1", g.Len())
	}
}

func TestCloneIndependent(t *testing.T) {
	for _, p := range []Policy{Threshold, Modulo, Maglev} {
		g := groupOf(t, p, 1, seq(5)...)
		c := g.Clone()
		rng := rand.New(rand.NewPCG(2, 3))
		hashes := make([]uint32, 1000)
		for i := range hashes {
			hashes[i] = rng.Uint32()
			if g.Pick(hashes[i]) != c.Pick(hashes[i]) {
				t.Fatalf("%v: clone picks differently", p)
			}
		}
		before := make([]Member, len(hashes))
		for i, h := range hashes {
			before[i] = c.Pick(h)
		}
		g.Remove(102)
		g.Add(999)
		g.SetPolicy((p + 1) % 3)
		for i, h := range hashes {
			if c.Pick(h) != before[i] {
				t.Fatalf("%v: clone changed with the original", p)
			}
		}
		if !slices.Equal(c.Members(), seq(5)) {
			t.Fatalf("%v: clone members %v", p, c.Members())
		}
	}
}

func TestSetPolicyRebuilds(t *testing.T) {
	g := groupOf(t, Threshold, 0, seq(4)...)
	if g.table != nil {
		t.Fatal("threshold group has a maglev table")
	}
	g.SetPolicy(Maglev)
	if len(g.table) != MaglevSize {
		t.Fatalf("maglev table size %d", len(g.table))
	}
	ref := groupOf(t, Maglev, 0, seq(4)...)
	if !slices.Equal(g.table, ref.table) {
		t.Fatal("table after SetPolicy differs from a fresh build")
	}
	g.SetPolicy(Modulo)
	if g.table != nil {
		t.Fatal("table kept after leaving maglev")
	}
}

// TestMaglevBalance: the populate algorithm gives every member
// floor(M/n) or ceil(M/n) slots.
func TestMaglevBalance(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 8, 16, 100, 256} {
		g := groupOf(t, Maglev, 0, seq(n)...)
		counts := make([]int, n)
		for _, e := range g.table {
			counts[e]++
		}
		lo, hi := MaglevSize/n, (MaglevSize+n-1)/n
		for i, c := range counts {
			if c < lo || c > hi {
				t.Errorf("n=%d member %d has %d slots, want %d..%d", n, i, c, lo, hi)
			}
		}
	}
}

// TestMaglevOrderIndependent: the slots a member owns depend on the member
// set, not on table indexes, so a shift-down after Remove keeps ownership of
// the table consistent with a fresh build.
func TestMaglevRemoveMatchesFreshBuild(t *testing.T) {
	g := groupOf(t, Maglev, 0, seq(9)...)
	g.Remove(104)
	ref := groupOf(t, Maglev, 0, g.Members()...)
	for h := uint32(0); h < 200000; h += 7 {
		if g.Pick(h) != ref.Pick(h) {
			t.Fatalf("Pick(%d) differs from a fresh build", h)
		}
	}
}

// disruption returns the share of flows whose member changed when the member
// at index rm of n members left.
func disruption(p Policy, shift uint, n, rm int, hashes []uint32) float64 {
	g := New(0, p, shift)
	for _, m := range seq(n) {
		g.Add(m)
	}
	before := make([]Member, len(hashes))
	for i, h := range hashes {
		before[i] = g.Pick(h)
	}
	g.Remove(Member(100 + rm))
	moved := 0
	for i, h := range hashes {
		if g.Pick(h) != before[i] {
			moved++
		}
	}
	return float64(moved) / float64(len(hashes))
}

func randomHashes(seed uint64, n int) []uint32 {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := make([]uint32, n)
	for i := range h {
		h[i] = rng.Uint32()
	}
	return h
}

// TestDisruption measures, for 100k random flows and n = 2..16 members, the
// share of flows that change member when the middle member leaves. Maglev
// must stay within 1/n + 0.02 (the 1/n on the removed member must move);
// threshold and modulo are reported.
func TestDisruption(t *testing.T) {
	hashes := randomHashes(42, 100000)
	for n := 2; n <= 16; n++ {
		var got [3]float64
		for _, p := range []Policy{Threshold, Modulo, Maglev} {
			got[p] = disruption(p, 0, n, n/2, hashes)
		}
		t.Logf("n=%2d remove #%d: threshold %.4f modulo %.4f maglev %.4f (1/n %.4f)",
			n, n/2, got[Threshold], got[Modulo], got[Maglev], 1/float64(n))
		if max := 1/float64(n) + 0.02; got[Maglev] > max {
			t.Errorf("n=%d maglev disruption %.4f > %.4f", n, got[Maglev], max)
		}
		// Any member removal must move at least the removed member's flows.
		if got[Maglev] < 1/float64(n)-0.02 {
			t.Errorf("n=%d maglev disruption %.4f implausibly low", n, got[Maglev])
		}
	}
	// Removing any member, with a queue shift.
	for rm := range 8 {
		if d := disruption(Maglev, 2, 8, rm, hashes); d > 1.0/8+0.02 {
			t.Errorf("s=2 n=8 remove #%d: maglev disruption %.4f", rm, d)
		}
	}
}

func TestFairness(t *testing.T) {
	hashes := randomHashes(7, 100000)
	for _, p := range []Policy{Threshold, Modulo, Maglev} {
		for _, shift := range []uint{0, 1, 3} {
			const n = 8
			g := groupOf(t, p, shift, seq(n)...)
			counts := make([]int, n)
			for _, h := range hashes {
				counts[g.Pick(h)-100]++
			}
			j := fairness.Jain(counts)
			t.Logf("%-9v s=%d n=%d Jain %.6f", p, shift, n, j)
			if j < 0.99 {
				t.Errorf("%v s=%d: Jain index %.4f < 0.99 (counts %v)", p, shift, j, counts)
			}
		}
	}
}

func TestPickAllocs(t *testing.T) {
	for _, p := range []Policy{Threshold, Modulo, Maglev, QUIC} {
		g := groupOf(t, p, 2, seq(8)...)
		h := uint32(0)
		pkt := shortPacket(g.QUICConfig().LB, 3)
		allocs := testing.AllocsPerRun(1000, func() {
			h += 0x9e3779b9
			g.Pick(h)
			g.PickPacket(h, pkt)
		})
		if allocs != 0 {
			t.Errorf("%v Pick: %v allocs, want 0", p, allocs)
		}
	}
}

var sink Member

func BenchmarkPick(b *testing.B) {
	for _, p := range []Policy{Threshold, Modulo, Maglev} {
		b.Run(p.String(), func(b *testing.B) {
			g := groupOf(b, p, 2, seq(8)...)
			hashes := randomHashes(1, 1024)
			b.ReportAllocs()
			var s Member
			for i := 0; b.Loop(); i++ {
				s += g.Pick(hashes[i&1023])
			}
			sink = s
		})
	}
}

func BenchmarkMaglevBuild(b *testing.B) {
	for _, n := range []int{8, 256} {
		b.Run(itoa(n), func(b *testing.B) {
			g := groupOf(b, Threshold, 0, seq(n)...)
			keys := g.maglevKeys()
			b.ReportAllocs()
			for b.Loop() {
				buildMaglev(keys)
			}
		})
	}
}
