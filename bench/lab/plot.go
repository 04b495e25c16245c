package lab

import (
	"fmt"
	"image/color"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/xdpmux/xdpmux/bench/internal/report"
)

var (
	colXDPMux = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colKernel = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colDrop   = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
	colRxdrop = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	colCRef   = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
	colBusy   = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colUntune = color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff}
)

// series returns (N, f(run)) for the saturation runs of system, by N.
func (r *Report) series(system string, f func(*Run) float64) plotter.XYs {
	var xy plotter.XYs
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.System == system && run.Load == LoadSaturation {
			xy = append(xy, plotter.XY{X: float64(run.Sockets), Y: f(run)})
		}
	}
	sort.Slice(xy, func(i, j int) bool { return xy[i].X < xy[j].X })
	return xy
}

// flat is a horizontal line at the mean of a system's saturation runs,
// spanning the group sizes measured.
func (r *Report) flat(system string, xmin, xmax float64) plotter.XYs {
	xy := r.series(system, func(run *Run) float64 { return run.ReceivedPPS / 1e6 })
	if len(xy) == 0 {
		return nil
	}
	var sum float64
	for _, v := range xy {
		sum += v.Y
	}
	m := sum / float64(len(xy))
	return plotter.XYs{{X: xmin, Y: m}, {X: xmax, Y: m}}
}

// Plot writes a PNG of the saturation runs: received Mpps by group size
// (xdpmux, the kernel rows, and XDP_DROP, rxdrop and the C reference as
// flat lines) and
// Jain's fairness index by group size.
func (r *Report) Plot(path string) error {
	pps := plot.New()
	pps.Title.Text = "Received at saturation"
	pps.X.Label.Text = "group members N"
	pps.Y.Label.Text = "Mpps"
	pps.Y.Min = 0
	pps.Legend.Top = true
	pps.Legend.Left = true
	mpps := func(run *Run) float64 { return run.ReceivedPPS / 1e6 }
	xm := r.series(SystemXDPMux, mpps)
	kn := r.series(SystemKernel, mpps)
	xmin, xmax := 1.0, 8.0
	for _, s := range []plotter.XYs{xm, kn} {
		if len(s) > 0 {
			xmin, xmax = min(xmin, s[0].X), max(xmax, s[len(s)-1].X)
		}
	}
	for _, l := range []struct {
		name   string
		xy     plotter.XYs
		c      color.Color
		dashed bool
	}{
		{"XDP_DROP (ceiling)", r.flat(SystemXDPDrop, xmin, xmax), colDrop, true},
		{"AF_XDP rxdrop (Go)", r.flat(SystemRxdrop, xmin, xmax), colRxdrop, true},
		{"AF_XDP in C (libxdp)", r.flat(SystemCRef, xmin, xmax), colCRef, true},
		{"xdpmux", xm, colXDPMux, false},
		{"kernel SO_REUSEPORT, SO_RCVBUF=rmem_max", kn, colKernel, false},
		{"kernel, + SO_BUSY_POLL", r.series(SystemKernelBusyPoll, mpps), colBusy, true},
		{"kernel, default SO_RCVBUF", r.series(SystemKernelUntuned, mpps), colUntune, true},
	} {
		if err := report.AddLine(pps, l.name, l.xy, l.c, l.dashed); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
	}

	fair := plot.New()
	fair.Title.Text = "Fairness (Jain) at saturation"
	fair.X.Label.Text = "group members N"
	fair.Y.Label.Text = "Jain's index"
	fair.Y.Min, fair.Y.Max = 0.9, 1.0
	fair.Legend.Left = true
	jain := func(run *Run) float64 { return max(run.Jain, 0.9) }
	if err := report.AddLine(fair, "xdpmux", r.series(SystemXDPMux, jain), colXDPMux, false); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := report.AddLine(fair, "kernel SO_REUSEPORT", r.series(SystemKernel, jain), colKernel, false); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	// Leave room above the highest line for the legend.
	var top float64
	for i := range r.Runs {
		top = max(top, r.Runs[i].ReceivedPPS/1e6)
	}
	pps.Y.Max = max(top*1.45, 0.1)
	for _, p := range []*plot.Plot{pps, fair} {
		p.X.Min, p.X.Max = xmin-0.5, xmax+0.5
		p.Add(plotter.NewGrid())
	}

	return report.WritePNG(path, pps, fair)
}
