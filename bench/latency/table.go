package latency

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the runs as an aligned text table, one line per run.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tpayload B\tload\trate pps\treplies pps\tlost\tp50 µs\tp99 µs\tp99.9 µs\tmax µs\t")
	for _, run := range r.Runs {
		rate := "max"
		if run.Load == LoadFixed {
			rate = fmt.Sprintf("%.0f", run.RatePPS)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.0f\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n",
			run.System, run.Payload, run.Load, rate, run.ReplyPPS, run.Lost, run.P50Us, run.P99Us, run.P999Us, run.MaxUs)
	}
	tw.Flush()
}
