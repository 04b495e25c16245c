package report

import (
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

func TestWritePNG(t *testing.T) {
	a, b := plot.New(), plot.New()
	if err := AddLine(a, "line", plotter.XYs{{X: 1, Y: 1}, {X: 2, Y: 3}}, color.Black, true); err != nil {
		t.Fatal(err)
	}
	if err := AddLine(b, "empty", nil, color.Black, false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.png")
	if err := WritePNG(path, a, b); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(img) < 8 || string(img[1:4]) != "PNG" {
		t.Fatalf("not a PNG: %d bytes", len(img))
	}
}
