package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/bench/txgen"
	"github.com/xdpmux/xdpmux/dataplane"
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
		{[]string{"-family", "5"}, `-family "5"`},
		{[]string{"-family", "dual", "-flows", "1"}, "-flows 1"},
		{[]string{"-family", "6", "-size", "70"}, "-size 70"},
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
	checkDemoLeave(t, res, true)
	for _, q := range res.Queues {
		if q.Packets == 0 {
			t.Errorf("queue %d received nothing", q.Queue)
		}
	}
	if ns := labNamespaces(t); len(ns) != 0 {
		t.Errorf("namespaces left: %v", ns)
	}
}

// checkDemoLeave checks the leave report of a run with the default 4
// members, where member #1 leaves and rejoins: shares in [0,1], consistent
// counts, the leaving member's flows moved while it was gone, and, when
// afterZero, none moved after the rejoin. It also checks the bound seconds
// behind Jain: the leaver was bound for less time than the others.
func checkDemoLeave(t *testing.T, res demoResult, afterZero bool) {
	t.Helper()
	l := res.Leave
	if l == nil {
		t.Fatal("no leave reported")
	}
	t.Logf("leave %+v", *l)
	if l.Member != res.Endpoints[1].Name {
		t.Errorf("member %q left, want %q", l.Member, res.Endpoints[1].Name)
	}
	if l.Members != 4 || l.Ideal != 0.25 {
		t.Errorf("members %d ideal %v, want 4, 0.25", l.Members, l.Ideal)
	}
	if !(0 < l.At && l.At < l.Back && l.Back < res.Seconds) {
		t.Errorf("left at %.2fs, back at %.2fs, sending %.2fs", l.At, l.Back, res.Seconds)
	}
	if l.Flows != 256 || l.GapFlows != l.Flows || l.AfterFlows != l.Flows {
		t.Errorf("flows %d, in the gap %d, after %d: want 256 each", l.Flows, l.GapFlows, l.AfterFlows)
	}
	for _, s := range []struct {
		name         string
		share        float64
		moved, flows uint64
	}{{"gap", l.GapShare, l.GapMoved, l.GapFlows}, {"after", l.AfterShare, l.AfterMoved, l.AfterFlows}} {
		if s.share < 0 || s.share > 1 || s.moved > s.flows || s.share != demoShare(s.flows, s.moved) {
			t.Errorf("%s: share %v of %d/%d", s.name, s.share, s.moved, s.flows)
		}
	}
	// The leaver's own flows (about a quarter) must go elsewhere.
	if l.GapMoved < l.Flows/8 {
		t.Errorf("only %d of %d flows moved while %s was gone", l.GapMoved, l.Flows, l.Member)
	}
	if afterZero && l.AfterMoved != 0 {
		t.Errorf("%d flows moved after a rejoin with its slot, want 0", l.AfterMoved)
	}
	if !afterZero && l.AfterMoved == 0 {
		t.Errorf("no flow moved after a rejoin without a slot")
	}
	for i, e := range res.Endpoints {
		gone := l.Back - l.At
		want := res.Seconds
		if i == 1 {
			want -= gone
		}
		if e.Seconds < want-0.1 || e.Seconds > want+0.1 {
			t.Errorf("%s bound %.2fs, want %.2fs", e.Name, e.Seconds, want)
		}
	}
}

// TestDemoLeavePolicies runs the leave and rejoin under each policy, with
// slots (nothing moves after the rejoin) and, under modulo, without (the
// rejoined member is appended: flows move), so the zero can fail.
func TestDemoLeavePolicies(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	tests := []struct {
		policy string
		slots  bool
	}{
		{"threshold", true},
		{"modulo", true},
		{"maglev", true},
		{"modulo", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/slots=%v", tt.policy, tt.slots), func(t *testing.T) {
			code, out, errOut := runDemoCmd("-duration", "3s", "-json", "-policy", tt.policy,
				fmt.Sprintf("-slots=%v", tt.slots))
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var res demoResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("stdout: %v\n%s", err, out)
			}
			if res.Sent != res.Received+res.Dropped {
				t.Errorf("sent %d != received %d + dropped %d", res.Sent, res.Received, res.Dropped)
			}
			if res.Policy != tt.policy || res.Slots != tt.slots {
				t.Errorf("policy %q slots %v, want %q %v", res.Policy, res.Slots, tt.policy, tt.slots)
			}
			checkDemoLeave(t, res, tt.slots)
			if ns := labNamespaces(t); len(ns) != 0 {
				t.Errorf("namespaces left: %v", ns)
			}
		})
	}
}

// TestDemoFamilies runs the demo over IPv6 (-family 6) and with a
// dual-stack group fed IPv4 and IPv6 flows (-family dual): the same
// accounting, leave and rejoin as over IPv4, every member served, and the
// IPv6 share of what the members read as the family says.
func TestDemoFamilies(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	for _, family := range []string{"6", "dual"} {
		t.Run(family, func(t *testing.T) {
			code, out, errOut := runDemoCmd("-duration", "3s", "-json", "-family", family)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var res demoResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("stdout: %v\n%s", err, out)
			}
			t.Logf("sent %d received %d (IPv6 %d) dropped %d backend %s drops %+v",
				res.Sent, res.Received, res.Received6, res.Dropped, res.Backend, res.Drops)
			if res.Sent == 0 || res.Sent != res.Received+res.Dropped {
				t.Errorf("sent %d != received %d + dropped %d", res.Sent, res.Received, res.Dropped)
			}
			if res.Family != family {
				t.Errorf("family %q, want %q", res.Family, family)
			}
			switch v4 := res.Received - res.Received6; family {
			case "6":
				if v4 != 0 {
					t.Errorf("%d IPv4 packets read with -family 6", v4)
				}
			case "dual":
				// Half the rate each; a share far from half means a family
				// lost its way.
				if v4 < res.Received/3 || res.Received6 < res.Received/3 {
					t.Errorf("received %d IPv4 and %d IPv6, want about half each", v4, res.Received6)
				}
			}
			want := "udp/[::]:9000#"
			if family == "6" {
				want = "udp/[2001:2:"
			}
			for _, e := range res.Endpoints {
				if !strings.HasPrefix(e.Name, want) || e.Packets == 0 {
					t.Errorf("endpoint %s: %d packets, want traffic on %s...", e.Name, e.Packets, want)
				}
			}
			checkDemoLeave(t, res, true)
			if ns := labNamespaces(t); len(ns) != 0 {
				t.Errorf("namespaces left: %v", ns)
			}
		})
	}
}

// TestDemoTextDual: the dual-stack view fits 80 columns and shows both
// families' rates.
func TestDemoTextDual(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	code, out, errOut := runDemoCmd("-duration", "2s", "-family", "dual")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	checkColumns(t, out)
	for _, want := range []string{"udp/[::]:9000", "IPv4 ", "pps, IPv6 ", "family dual: received "} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
}

// TestDemoText runs the default text output (as README's first command
// does, shortened) and checks that it fits 80 columns and says what moved.
func TestDemoText(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	code, out, errOut := runDemoCmd("-duration", "3s")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	checkColumns(t, out)
	for _, want := range []string{"gone since", "back since", "moved: gone ", "after it rejoined 0 of 256 moved (0.0%)", "ideal share moved 1/4 = 25.0%"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
}

func checkColumns(t *testing.T, out string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("%d columns: %q", n, l)
		}
	}
}

func TestDemoSummaryColumns(t *testing.T) {
	name := "udp/198.18.255.254:9000#255"
	res := demoResult{Sent: 1 << 40, Received: 1 << 40, Seconds: 8, PPS: 1e9, Backend: "txgen/afpacket",
		Policy: "threshold", Jain: 1, Unaccounted: -12345678, SendErrors: 1 << 40, Interrupted: true,
		Endpoints: []demoEndpoint{{Name: name, Packets: 1 << 40, Seconds: 8}},
		Queues:    []demoQueue{{Queue: 63, Packets: 1 << 40}},
		Drops: demoDrops{Veth: 1 << 40, XDPPass: 1 << 40, XSKRxDropped: 1 << 40, XSKRingFull: 1 << 40,
			XSKInvalid: 1 << 40, Unmatched: 1 << 40, Malformed: 1 << 40, RingFull: 1 << 40, Closed: 1 << 40},
		Leave: &demoLeave{Member: name, At: 1000, Back: 2000, Members: 256, Ideal: 1.0 / 256,
			Flows: 64512, GapFlows: 64512, GapMoved: 64512, GapShare: 1, AfterFlows: 64512},
	}
	var b bytes.Buffer
	printDemoSummary(&b, res)
	t.Log(b.String())
	checkColumns(t, b.String())
	for _, want := range []string{"while it was gone 64512 of 64512 moved (100.0%)", "after it rejoined 0 of 64512 moved (0.0%)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary does not say %q", want)
		}
	}
}

func TestWrapLine(t *testing.T) {
	tests := []struct {
		s      string
		width  int
		indent string
		want   string
	}{
		{"a b c", 80, "  ", "a b c"},
		{"  a  b", 80, "  ", "  a b"},
		{"aaa bbb ccc", 7, "  ", "aaa bbb\n  ccc"},
		{"  aaa bbb ccc", 8, "    ", "  aaa\n    bbb\n    ccc"},
		{"toolongword x", 4, " ", "toolongword\n x"},
		{"██ ██", 2, "", "██\n██"},
		{"", 80, "  ", ""},
	}
	for _, tt := range tests {
		if got := wrapLine(tt.s, tt.width, tt.indent); got != tt.want {
			t.Errorf("wrapLine(%q, %d, %q) = %q, want %q", tt.s, tt.width, tt.indent, got, tt.want)
		}
	}
}

func TestDemoFlows(t *testing.T) {
	frames := func(ports ...int) []dataplane.Frame {
		var fs []dataplane.Frame
		for _, p := range ports {
			fs = append(fs, dataplane.Frame{Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), uint16(p))})
		}
		return fs
	}
	const p0 = txgen.FirstSrcPort
	tr := newDemoFlows(4)
	tr.record(frames(p0, p0+1), 0)
	tr.record(frames(p0+2, p0-1, p0+4, 9), 1) // out of range: ignored
	tr.phase.Store(demoPhaseNone)
	tr.record(frames(p0, p0+1, p0+2, p0+3), 3) // settling: ignored
	tr.phase.Store(demoPhaseGap)
	tr.record(frames(p0, p0+3), 0)   // p0 stays, p0+3 was not seen before
	tr.record(frames(p0+1, p0+1), 2) // moved
	tr.phase.Store(demoPhaseAfter)
	tr.record(frames(p0, p0+2), 0) // p0 stays
	tr.record(frames(p0+2), 1)     // the last frame counts: p0+2 stays on 1
	tr.record(frames(p0+1), 3)     // moved
	if n := tr.before(); n != 3 {
		t.Errorf("before: %d flows, want 3", n)
	}
	for _, tt := range []struct {
		phase        int
		flows, moved uint64
	}{{demoPhaseGap, 2, 1}, {demoPhaseAfter, 3, 1}} {
		if f, m := tr.moved(tt.phase); f != tt.flows || m != tt.moved {
			t.Errorf("phase %d: %d flows, %d moved; want %d, %d", tt.phase, f, m, tt.flows, tt.moved)
		}
	}
	batch := frames(p0, p0+1, p0+2, p0+3)
	if a := testing.AllocsPerRun(100, func() { tr.record(batch, 1) }); a != 0 {
		t.Errorf("record: %v allocations, want 0", a)
	}

	// -family dual: IPv6 flows from v6Base on.
	dual := newDemoFlows(4)
	dual.v6Base = 2
	six := netip.MustParseAddr("2001:2::1")
	dual.record(append(frames(p0, p0+1), dataplane.Frame{Src: netip.AddrPortFrom(six, p0)},
		dataplane.Frame{Src: netip.AddrPortFrom(six, p0+2)}), 0) // the last: out of range
	if n := dual.before(); n != 3 {
		t.Errorf("dual: %d flows, want 3", n)
	}
	if m := dual.seen[demoPhaseBefore][2].Load(); m != 1 {
		t.Errorf("dual: IPv6 flow 0 recorded at %d, want slot 2 = member 0", m)
	}
}

func TestDemoLeaveConfig(t *testing.T) {
	tests := []struct {
		members int
		leave   bool
		want    bool
	}{{1, true, false}, {2, true, true}, {4, false, false}}
	for _, tt := range tests {
		c := demoConfig{duration: time.Second, queues: 1, members: tt.members, flows: 1, size: txgen.MinSize, leave: tt.leave}
		if err := c.check(nil, "threshold"); err != nil {
			t.Fatal(err)
		}
		if c.leave != tt.want {
			t.Errorf("members %d -leave=%v: leave %v, want %v", tt.members, tt.leave, c.leave, tt.want)
		}
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
	want := "t=1s\n  queues: q0=1500 q1=25.0k\n  jain 1.0000\n"
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
