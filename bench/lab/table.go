package lab

import (
	"fmt"
	"io"

	"github.com/xdpmux/xdpmux/bench/internal/report"
)

// Latency is one system's round-trip times for the comparison table, from
// the latency benchmark (bench/latency), shown on the row of the same
// system with Sockets members.
type Latency struct {
	Sockets      int
	P50Us, P99Us float64
}

// WriteComparison prints the comparison table of the saturation runs: per
// system and group size the received Mpps, its ratio to the C AF_XDP
// reference and to the tuned kernel at the same N, the receive-side CPU
// per packet at the fixed rate (rx_cpu_ns_per_pkt), the machine's CPU per
// packet at saturation, and the p50/p99 round trip lat gives for the
// system (nil: none). latNote says where the latency figures come from.
func (r *Report) WriteComparison(w io.Writer, lat map[string]Latency, latNote string) {
	cref := r.Find(SystemCRef, Queues, LoadSaturation)
	fmt.Fprintf(w, "\nComparison (%s, %s)\n", r.Date, r.Setup.Generator)
	tw := report.NewTable(w)
	fmt.Fprintln(tw, "system\tN\tMpps\t× C ref\t× kernel\trx CPU ns/pkt\tmachine CPU ns/pkt\tp50 µs\tp99 µs\t")
	dash := func(ok bool, format string, v float64) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.Load != LoadSaturation {
			continue
		}
		k := r.Find(SystemKernel, run.Sockets, LoadSaturation)
		fixed := r.Find(run.System, run.Sockets, LoadFixed)
		l, hasLat := lat[run.System]
		hasLat = hasLat && l.Sockets == run.Sockets
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%s\t%s\t%s\t%.0f\t%s\t%s\t\n",
			run.System, run.Sockets, run.ReceivedPPS/1e6,
			dash(cref != nil && cref.ReceivedPPS > 0, "%.2f", run.ReceivedPPS/max(cref.pps(), 1)),
			dash(k != nil && k.ReceivedPPS > 0, "%.2f", run.ReceivedPPS/max(k.pps(), 1)),
			dash(fixed != nil && fixed.RxCPUNsPerPkt != 0, "%.0f", fixed.rxCPU()),
			run.CPUNsPerPkt,
			dash(hasLat, "%.1f", l.P50Us), dash(hasLat, "%.1f", l.P99Us))
	}
	tw.Flush()
	if r.Schema < 2 {
		fmt.Fprintf(w, "A report before schema 2: its %s is the kernel at the default SO_RCVBUF (untuned), and it has no %s.\n",
			SystemKernel, SystemCRef)
	}
	fmt.Fprintf(w, "× C ref: received / %s's at saturation; × kernel: / %s's (SO_RCVBUF %d) at the same N.\n",
		SystemCRef, SystemKernel, r.Setup.RcvBuf)
	if r.Setup.FixedRate > 0 {
		fmt.Fprintf(w, "rx CPU: machine busy time at %.0f pps minus that of %s at the same rate, per packet.\n",
			r.Setup.FixedRate, SystemXDPDrop)
	}
	if latNote != "" {
		fmt.Fprintln(w, latNote)
	}
}

func (run *Run) pps() float64 {
	if run == nil {
		return 0
	}
	return run.ReceivedPPS
}

func (run *Run) rxCPU() float64 {
	if run == nil {
		return 0
	}
	return run.RxCPUNsPerPkt
}
