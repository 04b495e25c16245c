package ecmp

import "fmt"

// Placement is where one flow landed: the host (0-based) and the name of
// the reuseport member that received it there.
type Placement struct {
	Host   int
	Member string
}

// Moves summarizes how flows moved between two placements of the same
// flows when one host left.
type Moves struct {
	Flows int // flows compared
	// OnLeaving is how many flows were on the host that left: they must
	// move. Ideal is OnLeaving/Flows, the least share that can move.
	OnLeaving int
	// Moved is how many flows changed host; MovedStaying how many of them
	// were on a host that stayed (0 with an ideal scheme).
	Moved, MovedStaying int
}

// Share is the share of all flows that changed host.
func (m Moves) Share() float64 { return ratio(m.Moved, m.Flows) }

// Ideal is the share of the flows on the host that left: what an ideal
// scheme moves.
func (m Moves) Ideal() float64 { return ratio(m.OnLeaving, m.Flows) }

// StayingShare is the share of the flows of the hosts that stayed that
// changed host anyway.
func (m Moves) StayingShare() float64 { return ratio(m.MovedStaying, m.Flows-m.OnLeaving) }

func (m Moves) String() string {
	return fmt.Sprintf("moved %d of %d flows (%.1f%%, ideal %.1f%%); %d of the %d flows of the staying hosts moved (%.1f%%)",
		m.Moved, m.Flows, 100*m.Share(), 100*m.Ideal(), m.MovedStaying, m.Flows-m.OnLeaving, 100*m.StayingShare())
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// CompareMoves compares the placements of the same flows before and after
// host leaving left. It fails if the lengths differ or if a flow is still
// on the leaving host afterwards.
func CompareMoves(before, after []Placement, leaving int) (Moves, error) {
	if len(before) != len(after) {
		return Moves{}, fmt.Errorf("%d flows before, %d after", len(before), len(after))
	}
	m := Moves{Flows: len(before)}
	for i := range before {
		b, a := before[i], after[i]
		if a.Host == leaving {
			return Moves{}, fmt.Errorf("flow %d still on host %d after it left", i, leaving)
		}
		if b.Host == leaving {
			m.OnLeaving++
		}
		if a.Host != b.Host {
			m.Moved++
			if b.Host != leaving {
				m.MovedStaying++
			}
		}
	}
	return m, nil
}

// PerHost counts the flows of each of hosts hosts.
func PerHost(p []Placement, hosts int) []uint64 {
	n := make([]uint64, hosts)
	for _, x := range p {
		if x.Host >= 0 && x.Host < hosts {
			n[x.Host]++
		}
	}
	return n
}
