package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xdpmux/xdpmux/pcb"
)

// leavePlan is -leave NAME:AT:BACK: endpoint NAME unbinds before packet
// AT and binds again, with the same spec (and so the same slot, if it has
// one) under a new endpoint ID, before packet BACK.
type leavePlan struct {
	name     string
	at, back int
}

func parseLeave(s string) (*leavePlan, error) {
	bad := fmt.Errorf("-leave %q: want NAME:AT:BACK with 0 <= AT < BACK packet indexes, e.g. udp/0.0.0.0:53#1:1000:2000", s)
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return nil, bad
	}
	j := strings.LastIndex(s[:i], ":")
	if j < 0 {
		return nil, bad
	}
	at, err1 := strconv.Atoi(s[j+1 : i])
	back, err2 := strconv.Atoi(s[i+1:])
	if err1 != nil || err2 != nil || at < 0 || back <= at || j == 0 {
		return nil, bad
	}
	return &leavePlan{name: s[:j], at: at, back: back}, nil
}

// replayLeave is the -json report of -leave (SPEC section 6): of the flows
// seen before the leave, how many had a packet during the gap and after
// the rejoin, and how many of those went to another endpoint than before.
type replayLeave struct {
	Name       string  `json:"name"`
	At         int     `json:"at"`
	Back       int     `json:"back"`
	Members    int     `json:"members"` // group size before the leave
	Ideal      float64 `json:"ideal"`   // 1/members: the share that must move
	GapFlows   uint64  `json:"gap_flows"`
	GapMoved   uint64  `json:"gap_moved"`
	AfterFlows uint64  `json:"after_flows"`
	AfterMoved uint64  `json:"after_moved"`
}

// leaveState tracks a -leave during the run.
type leaveState struct {
	plan  leavePlan
	id    pcb.EndpointID // the endpoint while bound
	spec  pcb.Spec
	first map[pcb.Flow]string // endpoint name of each flow before the leave
	seen  map[pcb.Flow]uint8  // bit 0: counted in the gap, bit 1: after
	rep   replayLeave
}

// step runs before packet index: the leave and the rejoin, applied to the
// authority and to every queue's copy, as the control plane would.
func (r *replay) leaveStep(index int) error {
	l := r.leave
	switch index {
	case l.plan.at:
		id := pcb.EndpointID(0)
		for i := len(r.names) - 1; i > 0; i-- {
			if r.names[i] == l.plan.name {
				id = pcb.EndpointID(i)
				break
			}
		}
		if id == 0 {
			return fmt.Errorf("-leave: no endpoint %q", l.plan.name)
		}
		l.id, l.rep.Members = id, max(len(r.auth.GroupMembers(id)), 1)
		l.spec, _ = r.auth.Spec(id)
		return r.applyAll(pcb.Change{Op: pcb.OpUnbind, ID: id})
	case l.plan.back:
		id := pcb.EndpointID(len(r.names))
		r.names = append(r.names, l.plan.name)
		r.counts = append(r.counts, 0)
		return r.applyAll(pcb.Change{Op: pcb.OpBind, ID: id, Spec: l.spec})
	}
	return nil
}

func (r *replay) applyAll(c pcb.Change) error {
	if err := r.auth.Apply(c); err != nil {
		return fmt.Errorf("-leave: %w", err)
	}
	for _, t := range r.tables {
		if err := t.Apply(c); err != nil {
			panic("replay: a copy refused what the authority took: " + err.Error())
		}
	}
	return nil
}

// leaveCount records the endpoint name of packet index of flow f.
func (r *replay) leaveCount(index int, f *pcb.Flow, name string) {
	l := r.leave
	if index < l.plan.at {
		l.first[*f] = name
		return
	}
	was, ok := l.first[*f]
	if !ok {
		return
	}
	bit, flows, moved := uint8(1), &l.rep.GapFlows, &l.rep.GapMoved
	if index >= l.plan.back {
		bit, flows, moved = 2, &l.rep.AfterFlows, &l.rep.AfterMoved
	}
	if l.seen[*f]&bit != 0 {
		return
	}
	l.seen[*f] |= bit
	*flows++
	if name != was {
		*moved++
	}
}

func (r *replay) leaveReport() *replayLeave {
	if r.leave == nil {
		return nil
	}
	rep := r.leave.rep
	rep.Name, rep.At, rep.Back = r.leave.plan.name, r.leave.plan.at, r.leave.plan.back
	if rep.Members > 0 {
		rep.Ideal = 1 / float64(rep.Members)
	}
	return &rep
}

func printLeave(w io.Writer, l *replayLeave) {
	share := func(moved, flows uint64) string {
		if flows == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(moved)/float64(flows))
	}
	fmt.Fprintf(w, "\nLEAVE %s before packet %d, back before %d: %d members, ideal 1/n = %.1f%%\n",
		l.Name, l.At, l.Back, l.Members, 100*l.Ideal)
	fmt.Fprintf(w, "PHASE\tFLOWS\tMOVED\tSHARE\n")
	fmt.Fprintf(w, "gap\t%d\t%d\t%s\n", l.GapFlows, l.GapMoved, share(l.GapMoved, l.GapFlows))
	fmt.Fprintf(w, "rejoined\t%d\t%d\t%s\n", l.AfterFlows, l.AfterMoved, share(l.AfterMoved, l.AfterFlows))
}
