package localgroup

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/xdpmux/xdpmux/localgroup/quiclb"
)

// shortPacket returns a 1-RTT (short-header) QUIC packet whose destination
// connection ID carries server ID sid in layout c.
func shortPacket(c quiclb.Config, sid uint32) []byte {
	p := make([]byte, 1+c.CIDLen+24)
	p[0] = 0x43
	for i := range p[1+c.CIDLen:] {
		p[1+c.CIDLen+i] = byte(i * 7)
	}
	c.Encode(p[1:1+c.CIDLen], sid)
	return p
}

// initialPacket returns a v1 Initial packet whose (client-chosen)
// destination connection ID happens to carry server ID sid.
func initialPacket(c quiclb.Config, sid uint32) []byte {
	p := []byte{0xc3, 0, 0, 0, 1, byte(c.CIDLen)}
	cid := make([]byte, c.CIDLen)
	c.Encode(cid, sid)
	p = append(p, cid...)
	return append(p, make([]byte, 40)...)
}

func sidsOf(t *testing.T, g *Group) []uint32 {
	t.Helper()
	var out []uint32
	for _, m := range g.Members() {
		sid, ok := g.ServerID(m)
		if !ok {
			t.Fatalf("member %d has no server ID", m)
		}
		out = append(out, sid)
	}
	return out
}

// TestServerIDStable: server IDs are the smallest free numbers from 1, kept
// while members leave, and a freed number is reused by the next member.
func TestServerIDStable(t *testing.T) {
	g := groupOf(t, QUIC, 1, 10, 11, 12, 13)
	if got, want := sidsOf(t, g), []uint32{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("server IDs %v, want %v", got, want)
	}
	g.Remove(11)
	if got, want := sidsOf(t, g), []uint32{1, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("after removing 11: server IDs %v, want %v", got, want)
	}
	if err := g.Add(14); err != nil {
		t.Fatal(err)
	}
	if got, want := sidsOf(t, g), []uint32{1, 3, 4, 2}; !slices.Equal(got, want) {
		t.Fatalf("after adding 14: server IDs %v, want %v", got, want)
	}
	if _, ok := g.ServerID(11); ok {
		t.Errorf("ServerID(11) ok after Remove")
	}
	// A clone keeps the IDs; a change to the clone leaves g alone.
	c := g.Clone()
	c.Remove(10)
	if got, want := sidsOf(t, g), []uint32{1, 3, 4, 2}; !slices.Equal(got, want) {
		t.Errorf("original after clone change: %v, want %v", got, want)
	}
	// A server ID beyond a 1-octet layout does not fit.
	g1 := New(300, QUIC, 0)
	g1.SetQUIC(QUICConfig{LB: quiclb.Config{ServerIDLen: 1, CIDLen: 6}, Fallback: Threshold})
	for m := Member(1); m <= 256; m++ {
		if err := g1.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	if sid, ok := g1.ServerID(255); !ok || sid != 255 {
		t.Errorf("ServerID(255) = %d, %v, want 255, true", sid, ok)
	}
	if sid, ok := g1.ServerID(256); ok {
		t.Errorf("ServerID(256) = %d, true, want false (1-octet server IDs)", sid)
	}
}

// TestPickPacketQUIC: each packet kind picks the member its server ID names
// or falls back to the hash pick.
func TestPickPacketQUIC(t *testing.T) {
	for _, fb := range []Policy{Threshold, Modulo, Maglev} {
		qc := DefaultQUICConfig()
		qc.Fallback = fb
		g := New(0, QUIC, 2)
		g.SetQUIC(qc)
		ref := New(0, fb, 2) // the fallback on its own
		for _, m := range seq(5) {
			if err := g.Add(m); err != nil {
				t.Fatal(err)
			}
			ref.Add(m)
		}
		lb := qc.LB
		other := lb
		other.ConfigID = 3
		rng := rand.New(rand.NewPCG(1, uint64(fb)))
		for range 200 {
			h := rng.Uint32()
			tests := []struct {
				name string
				p    []byte
				want Member
			}{
				{"short sid 1", shortPacket(lb, 1), 100},
				{"short sid 5", shortPacket(lb, 5), 104},
				{"short sid 6 (no member)", shortPacket(lb, 6), ref.Pick(h)},
				{"short sid 0", shortPacket(lb, 0), ref.Pick(h)},
				{"short other config rotation", shortPacket(other, 2), ref.Pick(h)},
				{"initial", initialPacket(lb, 2), ref.Pick(h)},
				{"empty", nil, ref.Pick(h)},
			}
			for _, tc := range tests {
				if got := g.PickPacket(h, tc.p); got != tc.want {
					t.Fatalf("fallback %v, %s, hash %#x: PickPacket = %d, want %d", fb, tc.name, h, got, tc.want)
				}
			}
			if got, want := g.Pick(h), ref.Pick(h); got != want {
				t.Fatalf("fallback %v: Pick(%#x) = %d, want %d (the fallback's)", fb, h, got, want)
			}
		}
	}
	// Other policies ignore the payload.
	for _, p := range []Policy{Threshold, Modulo, Maglev} {
		g := groupOf(t, p, 0, seq(5)...)
		pkt := shortPacket(quiclb.DefaultConfig(), 5)
		for h := uint32(0); h < 1<<32-1<<26; h += 1 << 26 {
			if got, want := g.PickPacket(h, pkt), g.Pick(h); got != want {
				t.Fatalf("%v: PickPacket = %d, Pick = %d", p, got, want)
			}
		}
	}
	if got := New(0, QUIC, 0).PickPacket(1, shortPacket(quiclb.DefaultConfig(), 1)); got != 0 {
		t.Errorf("empty group: PickPacket = %d, want 0", got)
	}
}

// TestPickQUICRandom: under churn, PickPacket agrees with a naive model
// (the member whose server ID the packet names, by linear scan; else the
// fallback Pick).
func TestPickQUICRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	g := New(16, QUIC, 1)
	lb := g.QUICConfig().LB
	next := Member(1)
	for step := range 2000 {
		if g.Len() > 0 && (g.Len() == 16 || rng.IntN(3) == 0) {
			ms := g.Members()
			g.Remove(ms[rng.IntN(len(ms))])
		} else {
			if err := g.Add(next); err != nil {
				t.Fatal(err)
			}
			next++
		}
		sid := uint32(rng.IntN(20))
		h := rng.Uint32()
		want := Member(0)
		for _, m := range g.Members() {
			if s, _ := g.ServerID(m); s == sid {
				want = m
			}
		}
		if want == 0 {
			want = g.Pick(h)
		}
		if got := g.PickPacket(h, shortPacket(lb, sid)); got != want {
			t.Fatalf("step %d: sid %d: PickPacket = %d, want %d", step, sid, got, want)
		}
	}
}

func TestQUICConfigValidate(t *testing.T) {
	if err := DefaultQUICConfig().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	bad := DefaultQUICConfig()
	bad.Fallback = QUIC
	if err := bad.Validate(); !errors.Is(err, quiclb.ErrInvalidConfig) {
		t.Errorf("fallback quic: %v, want ErrInvalidConfig", err)
	}
	bad = DefaultQUICConfig()
	bad.LB.CIDLen = 4
	if err := bad.Validate(); !errors.Is(err, quiclb.ErrInvalidConfig) {
		t.Errorf("CID length 4: %v, want ErrInvalidConfig", err)
	}
}
