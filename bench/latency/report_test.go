package latency

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/xdpmux/xdpmux/bench/lab"
)

func sampleReport() *Report {
	return &Report{
		Schema: Schema, Date: "2026-01-01T00:00:00Z",
		Runs: []Run{
			{System: SystemEndpoint, Payload: 64, Load: LoadMax, Seconds: 3, Sent: 100, Received: 100,
				SentPPS: 33, ReplyPPS: 33, P50Us: 50, P99Us: 90, P999Us: 120, MeanUs: 55, MaxUs: 200},
			{System: SystemKernel, Payload: 100, Load: LoadFixed, RatePPS: 10000, Seconds: 3, Sent: 30000, Received: 29990, Lost: 10,
				SentPPS: 10000, ReplyPPS: 9996, P50Us: 40, P99Us: 80, P999Us: 80, MeanUs: 42, MaxUs: 81},
		},
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Report)
		want   string // "" = valid
	}{
		{"valid", func(*Report) {}, ""},
		{"schema", func(r *Report) { r.Schema = 0 }, "schema"},
		{"no runs", func(r *Report) { r.Runs = nil }, "no runs"},
		{"system", func(r *Report) { r.Runs[0].System = "dpdk" }, "unknown system"},
		{"load", func(r *Report) { r.Runs[0].Load = "burst" }, "unknown load"},
		{"fixed without rate", func(r *Report) { r.Runs[1].RatePPS = 0 }, "without a rate"},
		{"payload", func(r *Report) { r.Runs[0].Payload = 8 }, "payload"},
		{"lost", func(r *Report) { r.Runs[1].Lost = 11 }, "!= sent"},
		{"negative", func(r *Report) { r.Runs[0].MeanUs = -1 }, "mean_us"},
		{"order", func(r *Report) { r.Runs[0].P99Us = 10 }, "out of order"},
		{"busy above 1", func(r *Report) { r.Runs[0].BusyShare = 1.5 }, "busy_share"},
		{"negative cpu", func(r *Report) { r.Runs[1].ServerCPUUsPerReply = -1 }, "server_cpu_us_per_reply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReport()
			tt.mutate(r)
			err := r.Check()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrBadReport) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrBadReport mentioning %q", err, tt.want)
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckJSON(b); err != nil {
		t.Fatalf("CheckJSON: %v", err)
	}
	for _, in := range []string{`{`, `{"schema":1,"runs":[{"system":"kernel-reuseport"}]}`, `{"schema":1,"runs":[]}`} {
		if _, err := CheckJSON([]byte(in)); !errors.Is(err, ErrBadReport) {
			t.Errorf("CheckJSON(%s) = %v, want ErrBadReport", in, err)
		}
	}
}

func TestFill(t *testing.T) {
	var h Hist
	for v := uint64(1000); v <= 100_000; v += 1000 {
		h.Record(v)
	}
	var run Run
	run.fill(120, 100, 2, &h)
	if run.Lost != 20 || run.SentPPS != 60 || run.ReplyPPS != 50 {
		t.Fatalf("got lost %d sent %v/s replies %v/s, want 20 60 50", run.Lost, run.SentPPS, run.ReplyPPS)
	}
	if run.P50Us < 49 || run.P50Us > 51 || run.MaxUs != 100 {
		t.Fatalf("got p50 %v max %v µs, want about 50 and 100", run.P50Us, run.MaxUs)
	}
	// More replies than requests (a duplicate) never makes lost wrap.
	run.fill(5, 6, 1, &h)
	if run.Lost != 0 || run.Received != 5 {
		t.Fatalf("got received %d lost %d, want 5 0", run.Received, run.Lost)
	}
}

func TestFillCPU(t *testing.T) {
	// 2 s of a 2-CPU machine, 3 s busy (300 ticks), the server 1 s of it
	// (100 ticks), 10 000 replies: 300 µs and 100 µs per reply.
	a := cpuSample{machine: lab.CPUTimes{Busy: 1000, Idle: 5000}, server: 50, ok: true}
	b := cpuSample{machine: lab.CPUTimes{Busy: 1300, Idle: 5100}, server: 150, ok: true}
	tests := []struct {
		name              string
		a, b              cpuSample
		received          uint64
		busy, perRep, srv float64
	}{
		{"measured", a, b, 10000, 0.75, 300, 100},
		{"nothing received", a, b, 0, 0, 0, 0},
		{"start not read", cpuSample{}, b, 10000, 0, 0, 0},
		{"end not read", a, cpuSample{}, 10000, 0, 0, 0},
		{"server restarted", a, cpuSample{machine: b.machine, server: 10, ok: true}, 10000, 0.75, 300, 0},
	}
	for _, tt := range tests {
		run := Run{Received: tt.received}
		run.fillCPU(tt.a, tt.b)
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"busy", run.BusyShare, tt.busy}, {"per reply", run.CPUUsPerReply, tt.perRep}, {"server", run.ServerCPUUsPerReply, tt.srv}} {
			if math.Abs(c.got-c.want) > 1e-9 {
				t.Errorf("%s: %s %v, want %v", tt.name, c.name, c.got, c.want)
			}
		}
	}
}
