package lab

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
)

// disruptionFirstPort is the first source port of the disruption flows.
const disruptionFirstPort = 20000

func (h *harness) addDisruption(d Disruption) {
	h.rep.Disruption = append(h.rep.Disruption, d)
	h.cfg.logf("disruption %-16s %-9s members %d: moved %.3f of %d flows (ideal %.3f)",
		d.System, d.Policy, d.Members, d.Moved, d.Flows, d.Ideal)
}

// disruption opens a recording group of members, sends one datagram per
// flow (source ports disruptionFirstPort...), closes member members/2,
// sends the same flows again and compares which member got each flow.
// Flows lost in either round are left out of the comparison.
func (h *harness) disruption(open func(record bool) (group, error), members int) (Disruption, error) {
	d := Disruption{Members: members, Ideal: 1 / float64(members)}
	g, err := open(true)
	if err != nil {
		return d, err
	}
	defer g.close()
	ports := make([]uint16, h.cfg.DisruptionFlows)
	for i := range ports {
		ports[i] = uint16(disruptionFirstPort + i)
	}
	before, err := h.sendFlows(g, ports)
	if err != nil {
		return d, err
	}
	if err := g.closeMember(members / 2); err != nil {
		return d, fmt.Errorf("close member %d: %w", members/2, err)
	}
	after, err := h.sendFlows(g, ports)
	if err != nil {
		return d, err
	}
	d.Moved, d.Flows = Moved(before, after)
	if d.Flows < len(ports)/2 {
		return d, fmt.Errorf("only %d of %d flows seen in both rounds", d.Flows, len(ports))
	}
	return d, nil
}

// sendFlows sends one small datagram per source port from the sending
// namespace, in chunks so no receive buffer overflows, waits until the
// group stops receiving and returns flow -> member.
func (h *harness) sendFlows(g group, ports []uint16) (map[uint16]int, error) {
	g.flows() // forget earlier rounds
	dst := netip.AddrPortFrom(h.lab.RecvAddr, h.cfg.Port)
	payload := []byte("xdpmux-bench-disruption")
	const chunk = 128
	for i := 0; i < len(ports); i += chunk {
		part := ports[i:min(i+chunk, len(ports))]
		if err := netlab.SendUDP(h.lab, dst, part, func(int) []byte { return payload }, len(part)); err != nil {
			return nil, err
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Quiescent: no new packet for 100 ms (at most 3 s).
	sum := func() (s uint64) {
		for _, c := range g.counts() {
			s += c
		}
		return s
	}
	last := sum()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		now := sum()
		if now == last {
			break
		}
		last = now
	}
	return FlowOwners(g.flows()), nil
}
