package lab

import (
	"errors"
	"fmt"
	"math"

	"github.com/xdpmux/xdpmux/bench/internal/report"
	"github.com/xdpmux/xdpmux/bench/internal/sys"
)

// Systems measured, as they appear in Run.System.
const (
	SystemXDPDrop = "xdp-drop"
	SystemRxdrop  = "afxdp-rxdrop"
	// SystemCRef is the C AF_XDP reference (bench/cref, libxdp's xsk
	// API): the "raw AF_XDP" figure the others are compared with.
	SystemCRef   = "afxdp-c"
	SystemXDPMux = "xdpmux"
	// SystemXDPMuxHandler is xdpmux with run-to-completion members
	// (dataplane.EndpointOptions.Handler; Config.Handler).
	SystemXDPMuxHandler = "xdpmux-handler"
	// SystemKernel is the tuned kernel baseline: SO_REUSEPORT, SO_RCVBUF
	// at net.core.rmem_max, recvmmsg of ReadBatch.
	SystemKernel = "kernel-reuseport"
	// SystemKernelBusyPoll is SystemKernel with SO_BUSY_POLL (an extra
	// row).
	SystemKernelBusyPoll = "kernel-busypoll"
	// SystemKernelUntuned is SystemKernel at the default SO_RCVBUF (an
	// extra row: what the harness compared with before schema 2).
	SystemKernelUntuned = "kernel-reuseport-untuned"
)

// Schema is the version of the report's JSON. 2 added the C reference,
// the tuned kernel (kernel-reuseport was the untuned one in reports
// without a schema), busy_ns_per_s and rx_cpu_ns_per_pkt.
const Schema = 2

// Loads: LoadSaturation sends as fast as the generator can; LoadFixed at
// Config.FixedRate, the same for every system.
const (
	LoadSaturation = "saturation"
	LoadFixed      = "fixed"
)

// Report is the benchmark's output, written as bench/results/<date>.json
// and bench/results/latest.json.
type Report struct {
	Schema  int     `json:"schema"`
	Date    string  `json:"date"`
	Machine Machine `json:"machine"`
	// Setup describes the lab, the generator and the options used.
	Setup      Setup        `json:"setup"`
	Runs       []Run        `json:"runs"`
	Disruption []Disruption `json:"disruption"`
	// Notes carries anything the run noticed (a phase that failed, a
	// generator fallback).
	Notes []string `json:"notes,omitempty"`
}

// Machine is where the report was made.
type Machine = sys.Machine

// Setup is the configuration a report was made with.
type Setup struct {
	Queues     int     `json:"queues"`
	Generator  string  `json:"generator"`
	Flows      int     `json:"flows"`
	FrameSize  int     `json:"frame_size"`
	WarmupSec  float64 `json:"warmup_s"`
	WindowSec  float64 `json:"window_s"`
	FixedRate  float64 `json:"fixed_rate_pps,omitempty"`
	SocketMode string  `json:"afxdp_mode,omitempty"`
	NumFrames  int     `json:"umem_frames_per_queue"`
	RingSize   int     `json:"endpoint_ring"`
	// RcvBuf is the effective SO_RCVBUF of the tuned kernel sockets
	// (the kernel doubles what is asked); RmemMax the net.core.rmem_max
	// they asked for; UntunedRcvBuf the default of the untuned row.
	RcvBuf        int `json:"kernel_rcvbuf"`
	RmemMax       int `json:"rmem_max,omitempty"`
	UntunedRcvBuf int `json:"kernel_rcvbuf_untuned,omitempty"`
	// BusyPollUs is SO_BUSY_POLL of the kernel-busypoll row.
	BusyPollUs int `json:"busy_poll_us,omitempty"`
	// CRef says how the C reference was built, or why it was skipped.
	CRef  string `json:"afxdp_c,omitempty"`
	Quick bool   `json:"quick"`
}

// Run is one measurement: one system, one group size, one load.
type Run struct {
	System  string  `json:"system"`
	Sockets int     `json:"sockets"`
	Load    string  `json:"load"`
	Policy  string  `json:"policy,omitempty"`
	Seconds float64 `json:"seconds"`
	// OfferedPPS is what reached the receiving interface: the sending
	// veth's tx_packets + tx_dropped over the window.
	OfferedPPS  float64 `json:"offered_pps"`
	ReceivedPPS float64 `json:"received_pps"`
	// Dropped sums DropsByReason over the window.
	Dropped       uint64            `json:"dropped"`
	DropsByReason map[string]uint64 `json:"drops_by_reason"`
	Jain          float64           `json:"jain"`
	PerMember     []uint64          `json:"per_member"`
	// CPUNsPerPkt is the busy CPU time of the whole machine (all CPUs,
	// generator included) over the window, divided by the packets
	// delivered. SelfCPUNsPerPkt counts only this process (the receivers
	// and, for xdpmux, the workers; not the generator or softirq work
	// done on other processes' time).
	CPUNsPerPkt     float64 `json:"cpu_ns_per_pkt"`
	SelfCPUNsPerPkt float64 `json:"self_cpu_ns_per_pkt"`
	CPUBusy         float64 `json:"cpu_busy"`
	// BusyNsPerSec is the machine's busy CPU time per second of the
	// window (all CPUs: at most CPUs × 1e9).
	BusyNsPerSec float64 `json:"busy_ns_per_s"`
	// RxCPUNsPerPkt, on fixed-rate runs, is the receive side's CPU per
	// packet: BusyNsPerSec minus that of the xdp-drop run at the same
	// rate (generator, softirq and XDP cost, the same for every system),
	// divided by ReceivedPPS. Noise can make it slightly negative.
	RxCPUNsPerPkt float64 `json:"rx_cpu_ns_per_pkt,omitempty"`
	GeneratorPPS  float64 `json:"generator_pps,omitempty"`
}

// Disruption is the share of flows that changed member when one member of
// a group of Members left.
type Disruption struct {
	System  string  `json:"system"`
	Policy  string  `json:"policy"`
	Members int     `json:"members"`
	Moved   float64 `json:"moved"`
	// Flows is how many flows were seen before and after; Ideal is 1/Members
	// (only the leaving member's flows move).
	Flows int     `json:"flows"`
	Ideal float64 `json:"ideal"`
}

// ErrBadReport is returned (wrapped) by Check.
var ErrBadReport = errors.New("lab: bad report")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadReport, fmt.Sprintf(format, args...))
}

// Check verifies that r has the documented shape: at least one run, known
// systems and loads, sockets >= 1, finite non-negative figures, Jain's
// index and moved shares in [0, 1], per-member counts matching sockets.
// It never looks at speed.
func (r *Report) Check() error {
	if len(r.Runs) == 0 {
		return bad("no runs")
	}
	for i, run := range r.Runs {
		where := fmt.Sprintf("runs[%d] (%s/%d)", i, run.System, run.Sockets)
		if !KnownSystem(run.System) {
			return bad("%s: unknown system %q", where, run.System)
		}
		switch run.Load {
		case LoadSaturation, LoadFixed:
		default:
			return bad("%s: unknown load %q", where, run.Load)
		}
		if run.Sockets < 1 {
			return bad("%s: sockets %d", where, run.Sockets)
		}
		for name, v := range map[string]float64{
			"seconds": run.Seconds, "offered_pps": run.OfferedPPS, "received_pps": run.ReceivedPPS,
			"jain": run.Jain, "cpu_ns_per_pkt": run.CPUNsPerPkt, "self_cpu_ns_per_pkt": run.SelfCPUNsPerPkt,
			"cpu_busy": run.CPUBusy, "generator_pps": run.GeneratorPPS, "busy_ns_per_s": run.BusyNsPerSec,
		} {
			if err := report.NonNegative(ErrBadReport, where+" "+name, v); err != nil {
				return err
			}
		}
		if math.IsNaN(run.RxCPUNsPerPkt) || math.IsInf(run.RxCPUNsPerPkt, 0) {
			return bad("%s: rx_cpu_ns_per_pkt = %v", where, run.RxCPUNsPerPkt)
		}
		if run.RxCPUNsPerPkt != 0 && run.Load != LoadFixed {
			return bad("%s: rx_cpu_ns_per_pkt on a %s run", where, run.Load)
		}
		if run.Jain > 1+1e-9 {
			return bad("%s: jain %v > 1", where, run.Jain)
		}
		if len(run.PerMember) != run.Sockets {
			return bad("%s: %d per-member counts for %d sockets", where, len(run.PerMember), run.Sockets)
		}
		var sum uint64
		for _, v := range run.DropsByReason {
			sum += v
		}
		if sum != run.Dropped {
			return bad("%s: dropped %d but reasons sum to %d", where, run.Dropped, sum)
		}
	}
	for i, d := range r.Disruption {
		where := fmt.Sprintf("disruption[%d] (%s/%s)", i, d.System, d.Policy)
		if d.System != SystemXDPMux && d.System != SystemKernel && d.System != SystemKernelUntuned {
			return bad("%s: unknown system", where)
		}
		if d.Policy == "" || d.Members < 2 {
			return bad("%s: policy %q, members %d", where, d.Policy, d.Members)
		}
		if err := report.NonNegative(ErrBadReport, where+" moved", d.Moved); err != nil {
			return err
		}
		if d.Moved > 1 || d.Ideal > 1 || d.Ideal < 0 {
			return bad("%s: moved %v, ideal %v: want shares in [0, 1]", where, d.Moved, d.Ideal)
		}
	}
	return nil
}

// CheckJSON decodes a report and checks it: the keys the contract names
// must be present (not merely zero), then Check.
func CheckJSON(b []byte) (*Report, error) {
	return report.DecodeJSON[Report](b, ErrBadReport,
		report.Keys{Array: "runs", Keys: []string{"system", "sockets", "offered_pps", "received_pps", "dropped", "jain"}},
		report.Keys{Array: "disruption", Required: true, Keys: []string{"system", "policy", "members", "moved"}})
}

// KnownSystem tells whether s is one of the System* names.
func KnownSystem(s string) bool {
	switch s {
	case SystemXDPDrop, SystemRxdrop, SystemCRef, SystemXDPMux, SystemXDPMuxHandler, SystemKernel, SystemKernelBusyPoll, SystemKernelUntuned:
		return true
	}
	return false
}

// DeriveRxCPU sets RxCPUNsPerPkt on every fixed-rate run with packets,
// against the xdp-drop fixed run (no xdp-drop fixed run: nothing is set).
func (r *Report) DeriveRxCPU() {
	base := r.Find(SystemXDPDrop, Queues, LoadFixed)
	if base == nil {
		return
	}
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.Load != LoadFixed || run.System == SystemXDPDrop || run.ReceivedPPS <= 0 {
			continue
		}
		run.RxCPUNsPerPkt = (run.BusyNsPerSec - base.BusyNsPerSec) / run.ReceivedPPS
	}
}

// Find returns the first run of system with that many sockets and load,
// or nil.
func (r *Report) Find(system string, sockets int, load string) *Run {
	for i := range r.Runs {
		if run := &r.Runs[i]; run.System == system && run.Sockets == sockets && run.Load == load {
			return run
		}
	}
	return nil
}
