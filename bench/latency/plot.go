package latency

import (
	"fmt"
	"image/color"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/xdpmux/xdpmux/bench/internal/report"
)

var colors = map[string]color.Color{
	SystemEndpoint:   color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	SystemPacketConn: color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	SystemHandler:    color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	SystemKernel:     color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// series returns (kpps, f(run)) of every run of system and payload: the
// requested rate of the fixed runs, the reply rate reached of the max run;
// by rate. Values are clamped to 1 µs for the log scale.
func (r *Report) series(system string, payload int, f func(*Run) float64) plotter.XYs {
	var xy plotter.XYs
	for i := range r.Runs {
		if run := &r.Runs[i]; run.System == system && run.Payload == payload {
			x := run.RatePPS
			if run.Load == LoadMax {
				x = run.ReplyPPS
			}
			xy = append(xy, plotter.XY{X: x / 1e3, Y: max(f(run), 1)})
		}
	}
	sort.Slice(xy, func(i, j int) bool { return xy[i].X < xy[j].X })
	return xy
}

func (r *Report) payloads() []int {
	seen := map[int]bool{}
	var ps []int
	for _, run := range r.Runs {
		if !seen[run.Payload] {
			seen[run.Payload] = true
			ps = append(ps, run.Payload)
		}
	}
	sort.Ints(ps)
	return ps
}

// Plot writes a PNG: p50 and p99 round-trip time (log scale) against the
// requested rate (for the max run: the rate reached), one line per system
// and payload (the first payload solid, the others dashed).
func (r *Report) Plot(path string) error {
	panels := []struct {
		title string
		f     func(*Run) float64
	}{
		{"p50 round trip", func(run *Run) float64 { return run.P50Us }},
		{"p99 round trip", func(run *Run) float64 { return run.P99Us }},
	}
	var plots []*plot.Plot
	for _, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "requests (kpps; max: replies reached)"
		p.Y.Label.Text = "µs (log)"
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		p.X.Min = 0
		p.Legend.Top, p.Legend.Left = true, true
		for k, payload := range r.payloads() {
			for _, sys := range systems {
				name := fmt.Sprintf("%s %d B", sys, payload)
				if err := report.AddLine(p, name, r.series(sys, payload, pn.f), colors[sys], k > 0); err != nil {
					return fmt.Errorf("plot: %w", err)
				}
			}
		}
		p.Add(plotter.NewGrid())
		plots = append(plots, p)
	}
	return report.WritePNG(path, plots...)
}
