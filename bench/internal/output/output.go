package output

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Report is a benchmark report: anything encoding/json marshals; a
// report that is also a Plotter gets its plot written beside it.
type Report = any

// Plotter is a report that draws itself as a PNG.
type Plotter interface {
	Plot(path string) error
}

// Write marshals rep and writes it to outFile, or, when outFile is "", to
// DIR/PREFIX<date>.json and DIR/PREFIXlatest.json; then the plot to
// plotFile, or DIR/PREFIXlatest.png when plotFile is "" and outFile is
// "" too, if rep is a Plotter. It prints "wrote PATH" for each file.
func Write(rep Report, outFile, dir, prefix, plotFile string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	files := []string{outFile}
	if outFile == "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		name := prefix + time.Now().UTC().Format("2006-01-02T150405Z") + ".json"
		files = []string{filepath.Join(dir, name), filepath.Join(dir, prefix+"latest.json")}
		if plotFile == "" {
			plotFile = filepath.Join(dir, prefix+"latest.png")
		}
	}
	for _, f := range files {
		if err := os.WriteFile(f, b, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", f)
	}
	if p, ok := rep.(Plotter); ok && plotFile != "" {
		if err := p.Plot(plotFile); err != nil {
			return err
		}
		fmt.Println("wrote", plotFile)
	}
	return nil
}

// Flags say where a command writes its report: -dir, -o and -plot, which
// both commands take with the same meaning.
type Flags struct {
	Dir    string // -dir: results directory for the dated and latest files
	File   string // -o: the one file to write instead
	Plot   string // -plot: the PNG's path
	Prefix string // the reports' names start with it: "" or "latency-"
}

// Register defines -dir, -o and -plot on fs, for reports named
// PREFIX<date>.json.
func (f *Flags) Register(fs *flag.FlagSet, prefix string) {
	f.Prefix = prefix
	fs.StringVar(&f.Dir, "dir", "bench/results",
		fmt.Sprintf("directory for %[1]s<date>.json, %[1]slatest.json and %[1]slatest.png", prefix))
	fs.StringVar(&f.File, "o", "", "write the JSON report to this file only (no dated copy, no latest.*)")
	fs.StringVar(&f.Plot, "plot", "",
		fmt.Sprintf("write the PNG plot here (default: %slatest.png in -dir unless -o is given)", prefix))
}

// Write writes rep where the flags say (see Write).
func (f *Flags) Write(rep Report) error {
	return Write(rep, f.File, f.Dir, f.Prefix, f.Plot)
}
