package latency

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPlot(t *testing.T) {
	r := sampleReport()
	r.Runs = append(r.Runs, Run{System: SystemEndpoint, Payload: 64, Load: LoadFixed, RatePPS: 10000, P50Us: 0})
	path := filepath.Join(t.TempDir(), "latency.png")
	if err := r.Plot(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Fatalf("not a PNG: %d bytes", len(b))
	}
}
