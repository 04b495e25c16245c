package latency

import (
	"fmt"
	"io"

	"github.com/xdpmux/xdpmux/bench/internal/report"
)

// WriteTable prints the runs as an aligned text table, one line per run.
func (r *Report) WriteTable(w io.Writer) {
	tw := report.NewTable(w)
	fmt.Fprintln(tw, "system\tpayload B\tload\trate pps\treplies pps\tlost\tp50 µs\tp99 µs\tp99.9 µs\tmax µs\tbusy %\tCPU µs/reply\tserver µs/reply\t")
	for _, run := range r.Runs {
		rate := "max"
		if run.Load == LoadFixed {
			rate = fmt.Sprintf("%.0f", run.RatePPS)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.0f\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.1f\t%.1f\t\n",
			run.System, run.Payload, run.Load, rate, run.ReplyPPS, run.Lost, run.P50Us, run.P99Us, run.P999Us, run.MaxUs,
			100*run.BusyShare, run.CPUUsPerReply, run.ServerCPUUsPerReply)
	}
	tw.Flush()
}
