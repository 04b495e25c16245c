package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/xdpmux/xdpmux/bench/fairness"
	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/pcb"
)

// loadSim is replay's model of delivery rings, for -slow and
// -bounded-load: replay has no applications reading, so it simulates
// them. Time is the packet index of the capture: one tick per packet.
// Every (queue, endpoint) has a ring of size slots; a frame that finds
// its ring full is dropped. Each tick, before the packet, every endpoint
// takes one frame (round-robin over its queues' rings), except a slow
// one (-slow NAME:EVERY), which takes one only every EVERY ticks. With a
// bounded-load fill, each queue's table copy marks a group member
// overloaded when a delivery leaves its ring at fill × size or more, and
// clears the mark once a read brings it below; each queue has the
// workers' flow table (dataplane.FlowTable; idle in packets), which keeps
// placed flows on their member.
type loadSim struct {
	fill  float64
	size  int
	idle  int64
	slow  map[string]int // endpoint name -> EVERY
	rings [][]int        // [queue][endpoint ID]: frames held
	over  [][]bool       // [queue][endpoint ID]: marked overloaded
	next  []int          // [endpoint ID]: the queue it reads next
	flows []*dataplane.FlowTable
	// by endpoint ID
	accepted, dropped, read []uint64
	kept                    uint64
}

func newLoadSim(queues int, fill float64, size, flowTable int, idle int64, slow map[string]int) (*loadSim, error) {
	if !(fill >= 0 && fill <= 1) {
		return nil, fmt.Errorf("-bounded-load %v: want a fill in (0, 1], or 0 for off", fill)
	}
	if size < 1 {
		return nil, fmt.Errorf("-ring %d: want at least 1", size)
	}
	if idle <= 0 {
		idle = math.MaxInt64 / 2
	}
	s := &loadSim{fill: fill, size: size, idle: idle, slow: slow,
		rings: make([][]int, queues), over: make([][]bool, queues)}
	if fill > 0 {
		for range queues {
			ft, err := dataplane.NewFlowTable(flowTable, idle)
			if err != nil {
				return nil, fmt.Errorf("-flow-table %d: %w", flowTable, err)
			}
			s.flows = append(s.flows, ft)
		}
	}
	return s, nil
}

// parseSlow parses NAME:EVERY[,NAME:EVERY].
func parseSlow(s string) (map[string]int, error) {
	out := map[string]int{}
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		i := strings.LastIndex(part, ":")
		every, err := strconv.Atoi(part[i+1:])
		if i <= 0 || err != nil || every < 1 {
			return nil, fmt.Errorf("-slow %q: want NAME:EVERY[,NAME:EVERY] with EVERY >= 1 packets per frame read, e.g. udp/0.0.0.0:53#0:8", s)
		}
		out[part[:i]] = every
	}
	return out, nil
}

// grow makes room for endpoint IDs below n.
func (s *loadSim) grow(n int) {
	for len(s.accepted) < n {
		s.accepted, s.dropped, s.read = append(s.accepted, 0), append(s.dropped, 0), append(s.read, 0)
		s.next = append(s.next, 0)
		for q := range s.rings {
			s.rings[q] = append(s.rings[q], 0)
			s.over[q] = append(s.over[q], false)
		}
	}
}

// tick is the readers' turn before packet now: each endpoint that reads
// at this tick takes one frame; the marks of rings that fell below the
// fill are cleared.
func (s *loadSim) tick(r *replay, now int) {
	s.grow(len(r.names))
	nq := len(s.rings)
	for id := 1; id < len(r.names); id++ {
		if every, ok := s.slow[r.names[id]]; ok && now%every != 0 {
			continue
		}
		for k := range nq {
			q := (s.next[id] + k) % nq
			if s.rings[q][id] > 0 {
				s.rings[q][id]--
				s.read[id]++
				s.next[id] = (q + 1) % nq
				if s.over[q][id] && !s.loaded(s.rings[q][id]) {
					s.over[q][id] = false
					r.tables[q].SetOverloaded(pcb.EndpointID(id), false)
				}
				break
			}
		}
	}
}

func (s *loadSim) loaded(held int) bool {
	return s.fill > 0 && float64(held) >= s.fill*float64(s.size)
}

// deliver hands the packet of flow f, which the lookup of queue q sent to
// id, to its ring and returns the endpoint it went to (a kept flow's
// member, with bounded loads).
func (s *loadSim) deliver(r *replay, q int, id pcb.EndpointID, f *pcb.Flow, hash uint32, now int) pcb.EndpointID {
	s.grow(len(r.names))
	t := r.tables[q]
	gk, grouped := t.GroupKey(id)
	if s.flows != nil && grouped {
		var kept bool
		id, kept = s.flows[q].Stick(f, hash, int64(now), id, func(m pcb.EndpointID) bool {
			k, ok := t.GroupKey(m)
			return ok && k == gk
		})
		if kept {
			s.kept++
		}
	}
	ring := &s.rings[q][id]
	if *ring >= s.size {
		s.dropped[id]++
		return id
	}
	*ring++
	s.accepted[id]++
	if grouped && !s.over[q][id] && s.loaded(*ring) {
		s.over[q][id] = true
		t.SetOverloaded(id, true)
	}
	return id
}

// replayLoad is the -json report of the ring simulation ("load").
type replayLoad struct {
	Fill        float64              `json:"fill"` // 0: bounded load off
	Ring        int                  `json:"ring"`
	Slow        map[string]int       `json:"slow"`
	Accepted    uint64               `json:"accepted"`
	Dropped     uint64               `json:"dropped"`
	Jain        float64              `json:"jain"` // over accepted frames per endpoint
	FlowKept    uint64               `json:"flow_kept"`
	FlowEvicted uint64               `json:"flow_evicted"`
	Endpoints   []replayLoadEndpoint `json:"endpoints"`
}

type replayLoadEndpoint struct {
	Name     string `json:"name"`
	Accepted uint64 `json:"accepted"`
	Dropped  uint64 `json:"dropped"`
	Read     uint64 `json:"read"`
}

func (s *loadSim) report(r *replay) *replayLoad {
	s.grow(len(r.names))
	rep := &replayLoad{Fill: s.fill, Ring: s.size, Slow: s.slow, FlowKept: s.kept, Endpoints: []replayLoadEndpoint{}}
	row := map[string]int{} // an endpoint that rejoined has one row
	for id := 1; id < len(r.names); id++ {
		i, ok := row[r.names[id]]
		if !ok {
			i = len(rep.Endpoints)
			row[r.names[id]] = i
			rep.Endpoints = append(rep.Endpoints, replayLoadEndpoint{Name: r.names[id]})
		}
		e := &rep.Endpoints[i]
		e.Accepted += s.accepted[id]
		e.Dropped += s.dropped[id]
		e.Read += s.read[id]
		rep.Accepted += s.accepted[id]
		rep.Dropped += s.dropped[id]
	}
	xs := make([]float64, len(rep.Endpoints))
	for i, e := range rep.Endpoints {
		xs[i] = float64(e.Accepted)
	}
	rep.Jain = fairness.Jain(xs)
	for _, ft := range s.flows {
		rep.FlowEvicted += ft.Evicted()
	}
	return rep
}

func printLoad(w io.Writer, l *replayLoad) {
	fmt.Fprintf(w, "\nRINGS of %d frames, bounded-load fill %g, slow %v: accepted %d, dropped %d, Jain %.4f, flows kept %d, evicted %d\n",
		l.Ring, l.Fill, l.Slow, l.Accepted, l.Dropped, l.Jain, l.FlowKept, l.FlowEvicted)
	fmt.Fprintf(w, "ENDPOINT\tACCEPTED\tDROPPED\tREAD\n")
	for _, e := range l.Endpoints {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", e.Name, e.Accepted, e.Dropped, e.Read)
	}
}
