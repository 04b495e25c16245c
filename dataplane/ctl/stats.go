package ctl

import (
	"encoding/json"
	"time"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/packet"
)

// StatsSnapshot is the answer to a Stats request: the dataplane's counters
// (dataplane.Stats, with malformed frames keyed by reason name), the
// control socket's clients, and whatever the server's info function
// returned (for `xdpmux run`: the interface, the XDP program's and sockets'
// counters, the command-line sinks).
type StatsSnapshot struct {
	Time      time.Time       `json:"time"`
	Policy    string          `json:"policy"`
	Hash      string          `json:"hash"` // dataplane.Config.Hash: "toeplitz" or "nic"
	Queues    []QueueStats    `json:"queues"`
	Totals    QueueStats      `json:"totals"`
	Endpoints []EndpointStats `json:"endpoints"`
	Clients   []ClientInfo    `json:"clients"`
	Info      json.RawMessage `json:"info,omitempty"`
}

// QueueStats are dataplane.QueueStats in JSON form. Queue is -1 in Totals.
type QueueStats struct {
	Queue         int               `json:"queue"`
	RX            uint64            `json:"rx"`
	Delivered     uint64            `json:"delivered"`
	Unmatched     uint64            `json:"unmatched"`
	Malformed     map[string]uint64 `json:"malformed"` // by reason; zero counts left out
	RingFull      uint64            `json:"ring_full"`
	OverBudget    uint64            `json:"over_budget"`
	ClosedDropped uint64            `json:"closed_dropped"`
	Resteered     uint64            `json:"resteered"`
	FillEmpty     uint64            `json:"fill_empty"`
	// HashNIC and HashSoftware: frames hashed by the NIC and in software
	// (dataplane.QueueStats).
	HashNIC      uint64 `json:"hash_nic"`
	HashSoftware uint64 `json:"hash_software"`
}

// MalformedTotal returns the sum of Malformed.
func (q *QueueStats) MalformedTotal() uint64 {
	var n uint64
	for _, v := range q.Malformed {
		n += v
	}
	return n
}

// EndpointStats are dataplane.EndpointStats in JSON form.
type EndpointStats struct {
	ID        uint32 `json:"id"`
	Name      string `json:"name"`
	Spec      string `json:"spec"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"` // ring full or over budget
	// OverBudget counts the frames dropped because the endpoint or its
	// owner held its frame budget (docs/DATAPLANE.md); included in Dropped.
	OverBudget uint64 `json:"over_budget"`
	Queued     uint64 `json:"queued"`
	// ReusePort and DualStack are the endpoint's bind flags.
	ReusePort bool `json:"reuseport"`
	DualStack bool `json:"dual_stack"`
}

// ClientInfo describes one control-socket client that has bound an
// endpoint.
type ClientInfo struct {
	ID       uint64 `json:"id"`
	PID      int32  `json:"pid"`
	UID      uint32 `json:"uid"`
	Endpoint string `json:"endpoint,omitempty"` // its endpoint's name, once bound
	Sent     uint64 `json:"sent"`               // frames written to it
	Dropped  uint64 `json:"dropped"`            // frames dropped: its socket buffer was full
}

// FromDataplane converts a dataplane.Stats.
func FromDataplane(st dataplane.Stats) (queues []QueueStats, totals QueueStats, eps []EndpointStats) {
	queues = make([]QueueStats, 0, len(st.Queues))
	for _, q := range st.Queues {
		queues = append(queues, queueStats(q))
	}
	totals = queueStats(st.Totals())
	eps = make([]EndpointStats, 0, len(st.Endpoints))
	for _, e := range st.Endpoints {
		eps = append(eps, EndpointStats{ID: uint32(e.ID), Name: e.Name, Spec: e.Spec,
			Delivered: e.Delivered, Dropped: e.Dropped, OverBudget: e.OverBudget, Queued: e.Queued,
			ReusePort: e.ReusePort, DualStack: e.DualStack})
	}
	return queues, totals, eps
}

func queueStats(q dataplane.QueueStats) QueueStats {
	out := QueueStats{Queue: q.Queue, RX: q.RX, Delivered: q.Delivered, Unmatched: q.Unmatched,
		Malformed: map[string]uint64{}, RingFull: q.RingFull, OverBudget: q.OverBudget, ClosedDropped: q.ClosedDropped,
		Resteered: q.Resteered, FillEmpty: q.FillEmpty, HashNIC: q.HashNIC, HashSoftware: q.HashSoftware}
	for _, r := range packet.Reasons() {
		if n := q.Malformed[r]; n > 0 {
			out.Malformed[r.String()] = n
		}
	}
	return out
}
