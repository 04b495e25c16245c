package localgroup

import (
	"fmt"

	"github.com/xdpmux/xdpmux/localgroup/quiclb"
)

// QUICConfig configures the QUIC policy: the connection ID layout and the
// hash policy for packets that name no member.
type QUICConfig struct {
	// LB is the connection ID layout the members write (package quiclb).
	LB quiclb.Config
	// Fallback picks, by hash, for client-chosen IDs (Initial, 0-RTT),
	// unparseable packets and IDs that name no member: Threshold, Modulo
	// or Maglev.
	Fallback Policy
}

// DefaultQUICConfig returns quiclb.DefaultConfig() with Maglev as the
// fallback: a member that joins or leaves moves few of the connections
// still routed by hash (those in their handshake).
func DefaultQUICConfig() QUICConfig {
	return QUICConfig{LB: quiclb.DefaultConfig(), Fallback: Maglev}
}

// Validate checks the layout and the fallback.
func (c QUICConfig) Validate() error {
	if err := c.LB.Validate(); err != nil {
		return err
	}
	if !c.Fallback.hashPolicy() {
		return fmt.Errorf("%w: QUIC fallback policy %v, want threshold, modulo or maglev", quiclb.ErrInvalidConfig, c.Fallback)
	}
	return nil
}

// SetQUIC sets the QUIC policy's configuration, which must be valid
// (callers validate first; it panics otherwise). A new group has
// DefaultQUICConfig.
func (g *Group) SetQUIC(c QUICConfig) {
	if err := c.Validate(); err != nil {
		panic("localgroup: " + err.Error())
	}
	g.quic = c
	g.rebuild()
}

// QUICConfig returns the QUIC policy's configuration.
func (g *Group) QUICConfig() QUICConfig { return g.quic }

// ServerID returns member m's server ID: the number that the connection
// IDs m issues carry, so that the QUIC policy sends their packets to m. It
// is slot + 1 for a member added with a slot (AddSlot); otherwise it is
// assigned when m is added, the smallest number from 1 up that no other
// member holds. It does not change while m is a member (other members
// leaving do not move it). ok is false when m is not a member or its
// number does not fit the layout's server ID length.
func (g *Group) ServerID(m Member) (sid uint32, ok bool) {
	for i, x := range g.members {
		if x == m {
			sid = uint32(g.sids[i])
			return sid, sid <= g.quic.LB.MaxServerID()
		}
	}
	return 0, false
}

// freeSID returns the smallest server ID from 1 up that no member holds.
func (g *Group) freeSID() uint16 {
	used := make([]bool, len(g.members)+2)
	for _, s := range g.sids {
		if int(s) < len(used) {
			used[s] = true
		}
	}
	for s := 1; ; s++ {
		if !used[s] {
			return uint16(s)
		}
	}
}

// buildBySID returns the server ID index: entry s is 1 + the index of the
// member with server ID s, or 0.
func buildBySID(sids []uint16) []uint16 {
	var hi uint16
	for _, s := range sids {
		hi = max(hi, s)
	}
	t := make([]uint16, int(hi)+1)
	for i, s := range sids {
		t[s] = uint16(i + 1)
	}
	return t
}

// pickQUIC is the QUIC policy: the member that the packet's server ID
// names, else the fallback's pick by hash.
func (g *Group) pickQUIC(u uint32, payload []byte) Member {
	if sid, ok := g.quic.LB.ServerID(payload); ok && sid < uint32(len(g.bySID)) {
		if i := g.bySID[sid]; i != 0 {
			return g.members[i-1]
		}
	}
	return g.pickHash(g.quic.Fallback, u)
}
