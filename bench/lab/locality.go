package lab

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/xdpmux/xdpmux/localgroup"
)

// LocalityConfig configures MeasureLocality.
type LocalityConfig struct {
	// Config holds the lab's settings (windows, generator, flows, ring);
	// FixedRate defaults to 150000 pps here.
	Config
	// Sizes are the group sizes of the queue-local runs (default 2, 4);
	// the bounded-load runs use the largest.
	Sizes []int
	// Policy is the pick policy (default maglev).
	Policy localgroup.Policy
	// SlowSleep is the slow member's sleep after each batch (default
	// 10 ms); Fill the bounded-load fill (default 0.5).
	SlowSleep time.Duration
	Fill      float64
	// NoQueueLocal and NoBoundedLoad skip an experiment.
	NoQueueLocal, NoBoundedLoad bool
}

func (lc *LocalityConfig) fill() {
	if len(lc.Sizes) == 0 {
		lc.Sizes = []int{2, 4}
	}
	if lc.FixedRate == 0 {
		lc.FixedRate = 150000
	}
	if lc.SlowSleep == 0 {
		lc.SlowSleep = 10 * time.Millisecond
	}
	if lc.Fill == 0 {
		lc.Fill = 0.5
	}
	if lc.Policy == localgroup.Threshold {
		lc.Policy = localgroup.Maglev
	}
}

// LocalityReport is MeasureLocality's result, written as JSON to
// bench/results.
type LocalityReport struct {
	Date       string        `json:"date"`
	Machine    Machine       `json:"machine"`
	Setup      Setup         `json:"setup"`
	Policy     string        `json:"policy"`
	WorkerCPUs []int         `json:"worker_cpus"`
	Runs       []LocalityRun `json:"runs"`
	Notes      []string      `json:"notes,omitempty"`
}

// LocalityRun is one window: the lab's Run plus the variant.
type LocalityRun struct {
	Run
	Experiment string `json:"experiment"` // "queue-local" or "bounded-load"
	QueueLocal bool   `json:"queue_local"`
	Pinned     bool   `json:"members_pinned"`
	// LocalShare is the share of the frames the members read (warm-up
	// included) that arrived on the member's own queue (i mod 2).
	LocalShare  float64 `json:"local_share"`
	BoundedLoad float64 `json:"bounded_load"`
	SlowMember  int     `json:"slow_member"` // -1: none
	SlowSleepUs int64   `json:"slow_sleep_us"`
	FlowKept    uint64  `json:"flow_kept"`
	FlowEvicted uint64  `json:"flow_evicted"`
}

// WriteTable prints one line per run.
func (r *LocalityReport) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EXPERIMENT\tN\tLOAD\tLOCAL\tPINNED\tFILL\tOFFERED Mpps\tRECEIVED Mpps\tDROPPED\tJAIN\tCPU ns/pkt\tSELF ns/pkt\tLOCAL SHARE\tPER MEMBER")
	for _, x := range r.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%v\t%v\t%g\t%.3f\t%.3f\t%d\t%.4f\t%.0f\t%.0f\t%.3f\t%v\n", x.Experiment, x.Sockets, x.Load,
			x.QueueLocal, x.Pinned, x.BoundedLoad, x.OfferedPPS/1e6, x.ReceivedPPS/1e6, x.Dropped, x.Jain,
			x.CPUNsPerPkt, x.SelfCPUNsPerPkt, x.LocalShare, x.PerMember)
	}
	tw.Flush()
}
