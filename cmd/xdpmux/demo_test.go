package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

func runDemoCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = cmdDemo(args, &o, &e)
	return code, o.String(), e.String()
}

func TestDemoBadArgs(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-duration", "0s"}, "-duration 0s"},
		{[]string{"-queues", "0"}, "-queues 0"},
		{[]string{"-queues", "65"}, "-queues 65"},
		{[]string{"-members", "0"}, "-members 0"},
		{[]string{"-rate", "-1"}, "-rate -1"},
		{[]string{"-flows", "0"}, "-flows 0"},
		{[]string{"-size", "20"}, "-size 20"},
		{[]string{"-policy", "random"}, `-policy "random"`},
		{[]string{"-nosuchflag"}, "nosuchflag"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runDemoCmd(tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q does not name %q", errOut, tt.want)
			}
		})
	}
}

func TestDemoHelp(t *testing.T) {
	code, out, _ := runDemoCmd("-h")
	if code != 0 || !strings.Contains(out, "usage: xdpmux demo") {
		t.Errorf("exit %d, stdout %q", code, out)
	}
}

func TestDemoNotRoot(t *testing.T) {
	defer func(f func() bool) { demoIsRoot = f }(demoIsRoot)
	demoIsRoot = func() bool { return false }
	code, out, errOut := runDemoCmd("-duration", "1s")
	if code != 1 || out != "" || errOut != demoNeedRoot+"\n" {
		t.Errorf("exit %d, stdout %q, stderr %q: want 1, nothing, %q", code, out, errOut, demoNeedRoot)
	}
}

// labNamespaces lists this process's demo namespaces in /run/netns.
func labNamespaces(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	var names []string
	prefix := fmt.Sprintf("%s-%d-", demoPrefix, os.Getpid())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestDemoJSON(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	code, out, errOut := runDemoCmd("-duration", "3s", "-json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var res demoResult
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("stdout has more than one JSON object:\n%s", out)
	}
	t.Logf("sent %d received %d dropped %d jain %.4f pps %.0f backend %s drops %+v",
		res.Sent, res.Received, res.Dropped, res.Jain, res.PPS, res.Backend, res.Drops)
	if res.Sent == 0 {
		t.Fatal("nothing sent")
	}
	if res.Sent != res.Received+res.Dropped {
		t.Errorf("sent %d != received %d + dropped %d", res.Sent, res.Received, res.Dropped)
	}
	if res.Dropped != res.Drops.total() {
		t.Errorf("dropped %d != sum of the drop counters %d", res.Dropped, res.Drops.total())
	}
	if len(res.Endpoints) != 4 {
		t.Fatalf("%d endpoints, want 4", len(res.Endpoints))
	}
	var sum uint64
	for _, e := range res.Endpoints {
		if e.Packets == 0 {
			t.Errorf("%s got no traffic", e.Name)
		}
		sum += e.Packets
	}
	if sum != res.Received {
		t.Errorf("endpoints got %d in all, received %d", sum, res.Received)
	}
	if res.Jain < 0.95 {
		t.Errorf("jain %.4f < 0.95", res.Jain)
	}
	for _, q := range res.Queues {
		if q.Packets == 0 {
			t.Errorf("queue %d received nothing", q.Queue)
		}
	}
	if ns := labNamespaces(t); len(ns) != 0 {
		t.Errorf("namespaces left: %v", ns)
	}
}

func TestLiveViewPlain(t *testing.T) {
	var b bytes.Buffer
	v := newLiveView(&b)
	if v.tty {
		t.Fatal("a bytes.Buffer is not a terminal")
	}
	f := viewFrame{
		Title:    "t=1s",
		Sections: []viewSection{{Title: "queues", Unit: "pps", Rows: []viewRow{{Label: "q0", Value: 1500}, {Label: "q1", Value: 25000}}}},
		Footer:   []string{"jain 1.0000"},
	}
	v.Draw(f)
	v.Draw(f)
	want := "t=1s | queues: q0=1500 q1=25.0k | jain 1.0000\n"
	if got := b.String(); got != want+want {
		t.Errorf("got %q, want %q twice", got, want)
	}
}

func TestLiveViewTerminal(t *testing.T) {
	var b bytes.Buffer
	v := &liveView{w: &b, tty: true, width: 8}
	f := viewFrame{Title: "t", Sections: []viewSection{{Title: "s", Rows: []viewRow{{Label: "a", Value: 2}, {Label: "b", Value: 1}}}}}
	v.Draw(f)
	first := b.String()
	if strings.Contains(first, "\x1b[4A") || !strings.Contains(first, "████████") || !strings.Contains(first, "████    ") {
		t.Errorf("first frame %q", first)
	}
	b.Reset()
	v.Draw(f)
	if !strings.HasPrefix(b.String(), "\x1b[4A") {
		t.Errorf("second frame %q does not move up 4 lines", b.String())
	}
}

func TestBar(t *testing.T) {
	tests := []struct {
		v, top float64
		want   string
	}{
		{0, 0, "    "},
		{1, 1, "████"},
		{1, 2, "██  "},
		{1, 16, "▎   "}, {1, 8, "▌   "},
		{3, 2, "████"},
	}
	for _, tt := range tests {
		if got := bar(tt.v, tt.top, 4); got != tt.want {
			t.Errorf("bar(%v, %v) = %q, want %q", tt.v, tt.top, got, tt.want)
		}
	}
}
