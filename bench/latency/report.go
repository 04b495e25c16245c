package latency

import (
	"errors"
	"fmt"

	"github.com/xdpmux/xdpmux/bench/internal/report"
	"github.com/xdpmux/xdpmux/bench/internal/sys"
	"github.com/xdpmux/xdpmux/bench/lab"
)

// Systems measured, as they appear in Run.System.
const (
	// SystemEndpoint is xdpmux through its native API: Receive and
	// Reply (the reply is built in the request's own UMEM frame).
	SystemEndpoint = "xdpmux-endpoint"
	// SystemPacketConn is xdpmux through Endpoint.PacketConn: ReadFrom
	// and WriteTo, a copy each way, as code written for sockets uses it.
	SystemPacketConn = "xdpmux-packetconn"
	// SystemHandler is xdpmux run to completion: a Handler
	// (dataplane.EndpointOptions.Handler) that Replies on the queue's
	// worker, with no reader goroutine.
	SystemHandler = "xdpmux-handler"
	// SystemKernel is the tuned kernel: SO_REUSEPORT, SO_RCVBUF at
	// net.core.rmem_max, recvmmsg and sendmmsg of ReadBatch.
	SystemKernel = "kernel-reuseport"
)

// systems are the systems in the order they are measured in each phase
// (and plotted).
var systems = []string{SystemEndpoint, SystemHandler, SystemPacketConn, SystemKernel}

// Loads: LoadFixed sends at Run.RatePPS (open loop, whatever the replies
// do); LoadMax keeps Setup.Outstanding requests in flight per client
// (closed loop, like dnsperf), as fast as the replies come back.
const (
	LoadFixed = "fixed"
	LoadMax   = "max"
)

// Schema is the version of the report's JSON.
const Schema = 1

// Report is the latency benchmark's output: bench/results/latency-<date>.json
// and latency-latest.json.
type Report struct {
	Schema  int      `json:"schema"`
	Date    string   `json:"date"`
	Machine Machine  `json:"machine"`
	Setup   Setup    `json:"setup"`
	Runs    []Run    `json:"runs"`
	Notes   []string `json:"notes,omitempty"`
}

// Machine is where the report was made.
type Machine = sys.Machine

// Setup is the configuration a report was made with.
type Setup struct {
	Queues      int     `json:"queues"`
	Members     int     `json:"members"`
	Clients     int     `json:"clients"`
	Outstanding int     `json:"outstanding_per_client"`
	WarmupSec   float64 `json:"warmup_s"`
	WindowSec   float64 `json:"window_s"`
	// MaxShare is the share of the lowest max rate used as the last
	// fixed rate (0.9: "90% of max").
	MaxShare   float64 `json:"max_share"`
	RcvBuf     int     `json:"kernel_rcvbuf"`
	SocketMode string  `json:"afxdp_mode,omitempty"`
	Quick      bool    `json:"quick"`
	// ServerProcess: each system's server ran in a child process of
	// its own (ServeChild), not in the clients' Go process. Reports
	// made before it have no such key.
	ServerProcess bool `json:"server_process,omitempty"`
}

// Run is one measurement: one system, one payload size, one load.
type Run struct {
	System  string `json:"system"`
	Payload int    `json:"payload"`
	Load    string `json:"load"`
	// RatePPS is the requested request rate of a fixed run (0 for max).
	RatePPS float64 `json:"rate_pps"`
	Seconds float64 `json:"seconds"`
	// Sent counts the requests sent in the window, Received the replies
	// to them (however late, within the drain), Lost the difference.
	Sent     uint64  `json:"sent"`
	Received uint64  `json:"received"`
	Lost     uint64  `json:"lost"`
	SentPPS  float64 `json:"sent_pps"`
	ReplyPPS float64 `json:"reply_pps"`
	// Round-trip times of the replies, in microseconds, measured by the
	// client (kernel UDP sockets in the sending namespace: their cost is
	// the same for every system).
	P50Us  float64 `json:"p50_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`
	MeanUs float64 `json:"mean_us"`
	MaxUs  float64 `json:"max_us"`
	// The round trip's two legs, split at the server's receive stamp
	// (CLOCK_MONOTONIC, read once per batch the server receives and
	// written into the reply): Req from the client's send to the server
	// holding the request (its path through the kernel, XDP and AF_XDP
	// or the UDP stack, and the server's wake-up), Rep from there to the
	// client's receive (the server's reply, its path and the client's
	// wake-up). 0 when no reply carried a stamp.
	ReqP50Us  float64 `json:"req_p50_us"`
	ReqP99Us  float64 `json:"req_p99_us"`
	ReqP999Us float64 `json:"req_p999_us"`
	RepP50Us  float64 `json:"rep_p50_us"`
	RepP99Us  float64 `json:"rep_p99_us"`
	RepP999Us float64 `json:"rep_p999_us"`
	// CPU over the window, from /proc/stat and the server process's
	// /proc/PID/stat (clock ticks of 10 ms: coarse for short windows):
	// BusyShare is the share of the machine's CPUs that were busy,
	// CPUUsPerReply the machine's busy time per reply received (clients,
	// softirqs and server together), ServerCPUUsPerReply the server
	// process's user + system time per reply (softirq work the kernel
	// runs in its syscalls included). 0 when not measured (reports of
	// before 2026-12-03) or nothing was received.
	BusyShare           float64 `json:"busy_share,omitempty"`
	CPUUsPerReply       float64 `json:"cpu_us_per_reply,omitempty"`
	ServerCPUUsPerReply float64 `json:"server_cpu_us_per_reply,omitempty"`
}

// ErrBadReport is returned (wrapped) by Check and CheckJSON.
var ErrBadReport = errors.New("latency: bad report")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadReport, fmt.Sprintf(format, args...))
}

// Check verifies the report's documented shape: runs of known systems and
// loads, positive payloads, finite non-negative figures, received + lost =
// sent, p50 <= p99 <= p99.9 <= max. It never looks at speed.
func (r *Report) Check() error {
	if r.Schema != Schema {
		return bad("schema %d, want %d", r.Schema, Schema)
	}
	if len(r.Runs) == 0 {
		return bad("no runs")
	}
	for i, run := range r.Runs {
		where := fmt.Sprintf("runs[%d] (%s/%d/%s)", i, run.System, run.Payload, run.Load)
		switch run.System {
		case SystemEndpoint, SystemHandler, SystemPacketConn, SystemKernel:
		default:
			return bad("%s: unknown system", where)
		}
		switch run.Load {
		case LoadFixed:
			if run.RatePPS <= 0 {
				return bad("%s: fixed run without a rate", where)
			}
		case LoadMax:
		default:
			return bad("%s: unknown load", where)
		}
		if run.Payload < minPayload {
			return bad("%s: payload %d < %d", where, run.Payload, minPayload)
		}
		for name, v := range map[string]float64{"rate_pps": run.RatePPS, "seconds": run.Seconds,
			"sent_pps": run.SentPPS, "reply_pps": run.ReplyPPS, "p50_us": run.P50Us, "p99_us": run.P99Us,
			"p999_us": run.P999Us, "mean_us": run.MeanUs, "max_us": run.MaxUs, "busy_share": run.BusyShare,
			"cpu_us_per_reply": run.CPUUsPerReply, "server_cpu_us_per_reply": run.ServerCPUUsPerReply} {
			if err := report.NonNegative(ErrBadReport, where+": "+name, v); err != nil {
				return err
			}
		}
		if run.BusyShare > 1 {
			return bad("%s: busy_share %v > 1", where, run.BusyShare)
		}
		if run.Received+run.Lost != run.Sent {
			return bad("%s: received %d + lost %d != sent %d", where, run.Received, run.Lost, run.Sent)
		}
		if run.P50Us > run.P99Us || run.P99Us > run.P999Us || run.P999Us > run.MaxUs {
			return bad("%s: percentiles out of order: p50 %v p99 %v p99.9 %v max %v", where, run.P50Us, run.P99Us, run.P999Us, run.MaxUs)
		}
	}
	return nil
}

// CheckJSON decodes a report and checks it; the keys the docs name must be
// present.
func CheckJSON(b []byte) (*Report, error) {
	return report.DecodeJSON[Report](b, ErrBadReport,
		report.Keys{Array: "runs", Keys: []string{"system", "payload", "load", "rate_pps", "sent", "received", "lost", "p50_us", "p99_us", "p999_us"}})
}

// Find returns the run of system with that payload and load at rate (0
// for max), or nil.
func (r *Report) Find(system string, payload int, load string, rate float64) *Run {
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.System == system && run.Payload == payload && run.Load == load && (load == LoadMax || run.RatePPS == rate) {
			return run
		}
	}
	return nil
}

// fill sets a run's figures from the window's counts and histogram.
func (run *Run) fill(sent, received uint64, secs float64, h *Hist) {
	run.Seconds = secs
	run.Sent, run.Received = sent, min(received, sent)
	run.Lost = sent - run.Received
	if secs > 0 {
		run.SentPPS = float64(sent) / secs
		run.ReplyPPS = float64(run.Received) / secs
	}
	us := func(ns uint64) float64 { return float64(ns) / 1e3 }
	run.P50Us, run.P99Us, run.P999Us = us(h.Quantile(0.5)), us(h.Quantile(0.99)), us(h.Quantile(0.999))
	run.MaxUs, run.MeanUs = us(h.Max()), h.Mean()/1e3
}

// fillLegs sets the legs' quantiles from their histograms.
func (run *Run) fillLegs(req, rep *Hist) {
	us := func(h *Hist, q float64) float64 { return float64(h.Quantile(q)) / 1e3 }
	run.ReqP50Us, run.ReqP99Us, run.ReqP999Us = us(req, 0.5), us(req, 0.99), us(req, 0.999)
	run.RepP50Us, run.RepP99Us, run.RepP999Us = us(rep, 0.5), us(rep, 0.99), us(rep, 0.999)
}

// cpuSample is the machine's CPU times and the server process's CPU
// time (clock ticks) at one instant; ok is false when either could not
// be read.
type cpuSample struct {
	machine lab.CPUTimes
	server  uint64
	ok      bool
}

// fillCPU sets the CPU figures from samples at the window's start (a) and
// end (b).
func (run *Run) fillCPU(a, b cpuSample) {
	if !a.ok || !b.ok || run.Received == 0 {
		return
	}
	d := b.machine.Sub(a.machine)
	run.BusyShare = d.BusyShare()
	run.CPUUsPerReply = d.BusyNanos() / 1e3 / float64(run.Received)
	if b.server >= a.server {
		run.ServerCPUUsPerReply = float64(b.server-a.server) * 1e6 / lab.UserHZ / float64(run.Received)
	}
}
