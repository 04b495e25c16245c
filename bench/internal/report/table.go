package report

import (
	"io"
	"text/tabwriter"
)

// NewTable returns a tabwriter for the benchmarks' tables: columns two
// spaces apart, right-aligned (figures line up on their last digit), each
// cell ended by a tab. The caller Flushes it.
func NewTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
}
