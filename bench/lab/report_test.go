package lab

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	return &Report{
		Date: "2026-01-01T00:00:00Z",
		Runs: []Run{
			{System: SystemXDPDrop, Sockets: 2, Load: LoadSaturation, Seconds: 3, OfferedPPS: 1e6, ReceivedPPS: 1e6,
				DropsByReason: map[string]uint64{}, Jain: 1, PerMember: []uint64{5, 5}},
			{System: SystemRxdrop, Sockets: 2, Load: LoadSaturation, Seconds: 3, OfferedPPS: 1e6, ReceivedPPS: 8e5,
				Dropped: 10, DropsByReason: map[string]uint64{"xsk_rx_ring_full": 10}, Jain: 0.99, PerMember: []uint64{4, 5}},
			{System: SystemXDPMux, Sockets: 1, Load: LoadSaturation, Seconds: 3, OfferedPPS: 1e6, ReceivedPPS: 7e5,
				DropsByReason: map[string]uint64{}, Jain: 1, PerMember: []uint64{7}, CPUNsPerPkt: 900, Policy: "threshold"},
			{System: SystemXDPMux, Sockets: 2, Load: LoadSaturation, Seconds: 3, OfferedPPS: 1e6, ReceivedPPS: 7.5e5,
				DropsByReason: map[string]uint64{}, Jain: 0.999, PerMember: []uint64{7, 8}},
			{System: SystemKernel, Sockets: 2, Load: LoadFixed, Seconds: 3, OfferedPPS: 1e5, ReceivedPPS: 1e5,
				DropsByReason: map[string]uint64{"udp_rcvbuf_errors": 0}, Jain: 1, PerMember: []uint64{3, 3}},
		},
		Disruption: []Disruption{
			{System: SystemXDPMux, Policy: "maglev", Members: 8, Moved: 0.13, Flows: 2048, Ideal: 0.125},
			{System: SystemKernel, Policy: "kernel", Members: 8, Moved: 0.6, Flows: 2048, Ideal: 0.125},
		},
	}
}

// TestJSONShape checks the documented keys of the report's JSON.
func TestJSONShape(t *testing.T) {
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	runs, ok := m["runs"].([]any)
	if !ok || len(runs) != 5 {
		t.Fatalf("runs: got %T %v", m["runs"], m["runs"])
	}
	for _, k := range []string{"system", "sockets", "offered_pps", "received_pps", "dropped", "jain",
		"cpu_ns_per_pkt", "drops_by_reason", "per_member", "load"} {
		if _, ok := runs[0].(map[string]any)[k]; !ok {
			t.Errorf("runs[0] has no %q: %v", k, runs[0])
		}
	}
	dis, ok := m["disruption"].([]any)
	if !ok || len(dis) != 2 {
		t.Fatalf("disruption: got %v", m["disruption"])
	}
	for _, k := range []string{"system", "policy", "members", "moved"} {
		if _, ok := dis[0].(map[string]any)[k]; !ok {
			t.Errorf("disruption[0] has no %q", k)
		}
	}
	if _, err := CheckJSON(b); err != nil {
		t.Errorf("CheckJSON: %v", err)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *Report)
		want   string
	}{
		{"ok", func(r *Report) {}, ""},
		{"no runs", func(r *Report) { r.Runs = nil }, "no runs"},
		{"unknown system", func(r *Report) { r.Runs[0].System = "dpdk" }, "unknown system"},
		{"unknown load", func(r *Report) { r.Runs[0].Load = "" }, "unknown load"},
		{"zero sockets", func(r *Report) { r.Runs[2].Sockets = 0 }, "sockets 0"},
		{"jain above 1", func(r *Report) { r.Runs[1].Jain = 1.5 }, "jain"},
		{"negative pps", func(r *Report) { r.Runs[1].ReceivedPPS = -1 }, "received_pps"},
		{"members mismatch", func(r *Report) { r.Runs[3].PerMember = []uint64{1} }, "per-member"},
		{"drops do not add up", func(r *Report) { r.Runs[1].Dropped = 11 }, "reasons sum"},
		{"disruption share", func(r *Report) { r.Disruption[0].Moved = 1.2 }, "shares"},
		{"disruption members", func(r *Report) { r.Disruption[1].Members = 1 }, "members 1"},
		{"disruption system", func(r *Report) { r.Disruption[1].System = SystemRxdrop }, "unknown system"},
		{"new systems", func(r *Report) {
			r.Runs[0].System, r.Runs[2].System, r.Runs[3].System = SystemCRef, SystemKernelBusyPoll, SystemKernelUntuned
		}, ""},
		{"negative rx cpu", func(r *Report) { r.Runs[4].RxCPUNsPerPkt = -50 }, ""},
		{"rx cpu on saturation", func(r *Report) { r.Runs[0].RxCPUNsPerPkt = 100 }, "rx_cpu_ns_per_pkt on a saturation"},
		{"negative busy", func(r *Report) { r.Runs[0].BusyNsPerSec = -1 }, "busy_ns_per_s"},
	}
	for _, tt := range tests {
		r := sampleReport()
		tt.mutate(r)
		err := r.Check()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrBadReport) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want ErrBadReport mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestCheckJSONRejects(t *testing.T) {
	for _, tt := range []struct{ name, in string }{
		{"not json", "{"},
		{"no disruption", `{"runs":[]}`},
		{"run without jain", `{"runs":[{"system":"xdpmux","sockets":1,"offered_pps":1,"received_pps":1,"dropped":0}],"disruption":[]}`},
		{"disruption without moved", `{"runs":[{"system":"xdpmux","sockets":1,"load":"saturation","offered_pps":1,"received_pps":1,"dropped":0,"jain":1,"per_member":[1]}],"disruption":[{"system":"xdpmux","policy":"maglev","members":8}]}`},
		{"no runs", `{"runs":[],"disruption":[]}`},
	} {
		if _, err := CheckJSON([]byte(tt.in)); !errors.Is(err, ErrBadReport) {
			t.Errorf("%s: err %v, want ErrBadReport", tt.name, err)
		}
	}
}

func TestFind(t *testing.T) {
	r := sampleReport()
	if run := r.Find(SystemXDPMux, 2, LoadSaturation); run == nil || run.ReceivedPPS != 7.5e5 {
		t.Errorf("Find xdpmux/2: got %+v", run)
	}
	if run := r.Find(SystemKernel, 2, LoadSaturation); run != nil {
		t.Errorf("Find kernel/2 saturation: got %+v, want nil", run)
	}
}

func TestFillRun(t *testing.T) {
	t0 := time.Unix(100, 0)
	s0 := sample{t: t0, cpu: CPUTimes{Busy: 1000, Idle: 1000}, self: time.Second, offered: 1000,
		members: []uint64{10, 20}, drops: map[string]uint64{"a": 5, "b": 7}}
	s1 := sample{t: t0.Add(2 * time.Second), cpu: CPUTimes{Busy: 1300, Idle: 1100}, self: 2 * time.Second, offered: 5000,
		members: []uint64{1010, 1020}, drops: map[string]uint64{"a": 9, "b": 7}}
	var run Run
	fillRun(&run, s0, s1)
	if run.Seconds != 2 || run.OfferedPPS != 2000 || run.ReceivedPPS != 1000 {
		t.Errorf("rates: got %+v", run)
	}
	if run.Dropped != 4 || run.DropsByReason["a"] != 4 || run.DropsByReason["b"] != 0 {
		t.Errorf("drops: got %d %v, want 4 map[a:4 b:0]", run.Dropped, run.DropsByReason)
	}
	if run.Jain != 1 || len(run.PerMember) != 2 || run.PerMember[0] != 1000 {
		t.Errorf("members: got %v jain %v", run.PerMember, run.Jain)
	}
	// 300 ticks = 3 s of CPU over 2000 packets.
	if run.CPUNsPerPkt != 3e9/2000 || run.SelfCPUNsPerPkt != 1e9/2000 || run.CPUBusy != 0.75 {
		t.Errorf("cpu: got %v ns/pkt, self %v, busy %v", run.CPUNsPerPkt, run.SelfCPUNsPerPkt, run.CPUBusy)
	}
}

func TestPlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.png")
	if err := sampleReport().Plot(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Errorf("not a PNG: % x", b[:min(8, len(b))])
	}
}

// TestRxCPUDerived: fixed-rate runs other than xdp-drop get their busy
// time above xdp-drop's per packet, negative included; saturation runs none.
func TestRxCPUDerived(t *testing.T) {
	r := &Report{Runs: []Run{
		{System: SystemXDPDrop, Sockets: Queues, Load: LoadFixed, ReceivedPPS: 1e5, BusyNsPerSec: 2e8},
		{System: SystemXDPMux, Sockets: 1, Load: LoadFixed, ReceivedPPS: 1e5, BusyNsPerSec: 3e8},
		{System: SystemKernel, Sockets: 1, Load: LoadFixed, ReceivedPPS: 1e5, BusyNsPerSec: 1.9e8},
		{System: SystemKernel, Sockets: 1, Load: LoadSaturation, ReceivedPPS: 1e6, BusyNsPerSec: 2e9},
	}}
	r.DeriveRxCPU()
	for i, want := range []float64{0, 1000, -100, 0} {
		if got := r.Runs[i].RxCPUNsPerPkt; got != want {
			t.Errorf("runs[%d] %s %s: rx cpu %v ns/pkt, want %v", i, r.Runs[i].System, r.Runs[i].Load, got, want)
		}
	}
}

func TestWriteComparison(t *testing.T) {
	r := sampleReport()
	r.Setup.FixedRate = 1e5
	r.Runs = append(r.Runs,
		Run{System: SystemCRef, Sockets: 2, Load: LoadSaturation, ReceivedPPS: 1e6},
		Run{System: SystemKernel, Sockets: 2, Load: LoadSaturation, ReceivedPPS: 5e5},
		Run{System: SystemXDPMux, Sockets: 2, Load: LoadFixed, ReceivedPPS: 1e5, RxCPUNsPerPkt: 1234},
	)
	var b strings.Builder
	r.WriteComparison(&b, map[string]Latency{SystemXDPMux: {Sockets: 2, P50Us: 51.5, P99Us: 99.25}}, "latency: test")
	out := b.String()
	for _, want := range []string{
		// xdpmux N=2: 0.75 Mpps, 0.75 × C, 1.50 × kernel, rx CPU 1234, p50/p99.
		"xdpmux  2  0.750  0.75  1.50  1234  0  51.5  99.2",
		"afxdp-c  2  1.000  1.00  2.00  -",
		"xdpmux  1  0.700  0.70  -  -  900  -  -",
		"latency: test",
	} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("table has no %q:\n%s", want, out)
		}
	}
}

// squeeze collapses runs of spaces to two (tabwriter's padding).
func squeeze(s string) string {
	for strings.Contains(s, "   ") {
		s = strings.ReplaceAll(s, "   ", "  ")
	}
	return s
}
