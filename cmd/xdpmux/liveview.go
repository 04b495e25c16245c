package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"unicode/utf8"
)

// A liveView draws a frame of rate bars about once a second: redrawn in
// place with ANSI escapes when the writer is a terminal, else printed as
// plain text (plainLines): the title, then one indented line per section
// and footer line, wrapped at viewColumns, so a log or pipe gets greppable
// lines that fit an 80-column terminal. Used by `xdpmux demo`.
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

// viewColumns is the width plain frames are wrapped to: an 80-column
// terminal.
const viewColumns = 80

// Draw shows f, replacing the previous frame on a terminal.
func (v *liveView) Draw(f viewFrame) {
	if !v.tty {
		fmt.Fprintln(v.w, plainLines(f, viewColumns))
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

// plainLines renders f as text without a final newline: the title, then
// "  section: label=value ..." per section and "  footer" per footer line,
// each wrapped at width (continuation lines indented by four spaces).
func plainLines(f viewFrame, width int) string {
	lines := []string{wrapLine(f.Title, width, "  ")}
	for _, s := range f.Sections {
		var b strings.Builder
		b.WriteString("  " + s.Title + ":")
		for _, r := range s.Rows {
			fmt.Fprintf(&b, " %s=%s", r.Label, humanRate(r.Value))
		}
		lines = append(lines, wrapLine(b.String(), width, "    "))
	}
	for _, l := range f.Footer {
		lines = append(lines, wrapLine("  "+l, width, "    "))
	}
	return strings.Join(lines, "\n")
}

// wrapLine breaks s at spaces into lines of at most width columns (a word
// longer than that stays whole), keeping s's leading spaces and starting
// continuation lines with indent; runs of spaces inside s become one. The
// lines are joined with newlines, without a final one.
func wrapLine(s string, width int, indent string) string {
	var b strings.Builder
	lead := s[:len(s)-len(strings.TrimLeft(s, " "))]
	b.WriteString(lead)
	col := len(lead)
	first := true
	for _, w := range strings.Fields(s) {
		n := utf8.RuneCountInString(w)
		switch {
		case first:
			first = false
		case col+1+n > width:
			b.WriteString("\n" + indent)
			col = len(indent)
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += n
	}
	return b.String()
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
