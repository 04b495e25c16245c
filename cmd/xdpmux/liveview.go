package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// A liveView draws a frame of rate bars about once a second: redrawn in
// place with ANSI escapes when the writer is a terminal, else printed as one
// plain line per frame, so a log or pipe gets greppable lines. Used by
// `xdpmux demo` and `xdpmux stats -watch`.
type liveView struct {
	w     io.Writer
	tty   bool
	lines int // lines of the last frame drawn on the terminal
	width int // bar width in cells
}

// viewFrame is what one redraw shows.
type viewFrame struct {
	Title    string        // first line
	Sections []viewSection // bars
	Footer   []string      // last lines (drops, fairness ...)
}

// viewSection is a group of bars scaled together.
type viewSection struct {
	Title string
	Unit  string // e.g. "pps"
	Rows  []viewRow
}

// viewRow is one bar.
type viewRow struct {
	Label string
	Value float64
	Note  string // printed after the value
}

// newLiveView returns a view on w; it uses ANSI redraws only when w is a
// terminal (a character device other than /dev/null, and TERM not "dumb").
func newLiveView(w io.Writer) *liveView {
	return &liveView{w: w, tty: isTerminal(w), width: 40}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	return f.Name() != os.DevNull
}

// Draw shows f, replacing the previous frame on a terminal.
func (v *liveView) Draw(f viewFrame) {
	if !v.tty {
		fmt.Fprintln(v.w, plainLine(f))
		return
	}
	var b strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.lines) // cursor up to the first line
	}
	n := 0
	line := func(format string, args ...any) {
		b.WriteString("\x1b[2K") // clear the line
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
		n++
	}
	line("%s", f.Title)
	for _, s := range f.Sections {
		line("%s", s.Title)
		top := 0.0
		lw := 0
		for _, r := range s.Rows {
			top = max(top, r.Value)
			lw = max(lw, len(r.Label))
		}
		for _, r := range s.Rows {
			line("  %-*s %s %10s %s %s", lw, r.Label, bar(r.Value, top, v.width), humanRate(r.Value), s.Unit, r.Note)
		}
	}
	for _, l := range f.Footer {
		line("%s", l)
	}
	// Clear what is left of a taller previous frame.
	for ; n < v.lines; n++ {
		b.WriteString("\x1b[2K\n")
	}
	v.lines = n
	io.WriteString(v.w, b.String())
}

// plainLine renders f on one line: "title | section: label=value ... | footer".
func plainLine(f viewFrame) string {
	parts := []string{f.Title}
	for _, s := range f.Sections {
		var b strings.Builder
		b.WriteString(s.Title + ":")
		for _, r := range s.Rows {
			fmt.Fprintf(&b, " %s=%s", r.Label, humanRate(r.Value))
		}
		parts = append(parts, b.String())
	}
	parts = append(parts, f.Footer...)
	return strings.Join(parts, " | ")
}

// bar is a bar of width cells for v out of top, in eighths of a cell.
func bar(v, top float64, width int) string {
	if top <= 0 || v < 0 || math.IsNaN(v) {
		return strings.Repeat(" ", width)
	}
	eighths := int(math.Round(v / top * float64(width*8)))
	eighths = min(eighths, width*8)
	full, part := eighths/8, eighths%8
	s := strings.Repeat("█", full)
	if part > 0 {
		s += string([]rune(" ▏▎▍▌▋▊▉")[part])
		full++
	}
	return s + strings.Repeat(" ", width-full)
}

// humanRate formats v with a k/M suffix.
func humanRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
