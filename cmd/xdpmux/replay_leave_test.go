package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"
)

// TestReplayLeaveRejoin: each flow sends once before, once during and once
// after a member's absence. With @slots no flow ends elsewhere after the
// rejoin, under every policy; Maglev moves about 1/n during the gap.
// Without slots, Maglev and threshold do not give the flows back.
func TestReplayLeaveRejoin(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 3000
	flows := randomFlows(rng, n, layers.IPProtocolUDP, netip.MustParseAddr("198.18.0.1"), 53)
	var frames [][]byte
	for range 3 {
		for _, f := range flows {
			frames = append(frames, buildFrame(t, f))
		}
	}
	file := writePcap(t, frames)
	for _, tc := range []struct {
		policy, bind string
		wantBack     bool // every flow back on its endpoint after the rejoin
	}{
		{"threshold", "udp/0.0.0.0:53/4@slots", true},
		{"modulo", "udp/0.0.0.0:53/4@slots", true},
		{"maglev", "udp/0.0.0.0:53/4@slots", true},
		{"quic", "udp/0.0.0.0:53/4@slots=10", true},
		{"maglev", "udp/0.0.0.0:53/4", false},
		{"threshold", "udp/0.0.0.0:53/4", false},
	} {
		t.Run(tc.policy+" "+tc.bind, func(t *testing.T) {
			stdout, stderr, status := replayCmd("-pcap", file, "-queues", "2", "-policy", tc.policy, "-json",
				"-leave", fmt.Sprintf("udp/0.0.0.0:53#1:%d:%d", n, 2*n), tc.bind)
			if status != 0 {
				t.Fatalf("status %d, stderr %q", status, stderr)
			}
			var res replayResult
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatal(err)
			}
			l := res.Leave
			if l == nil || l.Members != 4 || l.GapFlows != n || l.AfterFlows != n {
				t.Fatalf("leave report %+v, want 4 members, %d flows in each phase", l, n)
			}
			if len(res.Endpoints) != 4 {
				t.Errorf("%d endpoint rows, want 4 (the rejoined one once)", len(res.Endpoints))
			}
			if back := l.AfterMoved == 0; back != tc.wantBack {
				t.Errorf("after rejoin %d of %d flows moved; want all back: %v", l.AfterMoved, l.AfterFlows, tc.wantBack)
			}
			gap := float64(l.GapMoved) / float64(l.GapFlows)
			if (tc.policy == "maglev" || tc.policy == "quic") && gap > l.Ideal+0.03 {
				t.Errorf("gap moved %.3f, want about 1/n = %.3f", gap, l.Ideal)
			}
			t.Logf("gap moved %.3f (ideal %.3f), after rejoin %.3f", gap, l.Ideal, float64(l.AfterMoved)/float64(l.AfterFlows))
		})
	}
	out, _, status := replayCmd("-pcap", file, "-policy", "maglev", "-leave", "udp/0.0.0.0:53#1:10:20", "udp/0.0.0.0:53/4@slots")
	if status != 0 || !strings.Contains(out, "ideal 1/n = 25.0%") || !strings.Contains(out, "rejoined") {
		t.Errorf("table output without the leave section:\n%s", out)
	}
}

func TestParseBindSlots(t *testing.T) {
	for _, tc := range []struct {
		in    string
		slots bool
		first uint32
		bad   bool
	}{
		{"udp/0.0.0.0:53/4", false, 0, false},
		{"udp/0.0.0.0:53/4@slots", true, 0, false},
		{"udp/[::]:53/2@slots=7", true, 7, false},
		{"udp/0.0.0.0:53/4@slot", false, 0, true},
		{"udp/0.0.0.0:53/4@slots=x", false, 0, true},
		{"udp/0.0.0.0:53/4@slots=65535", false, 0, true},
		{"udp/0.0.0.0:53/2@slots=65533", true, 65533, false},
	} {
		b, err := parseBind(tc.in)
		if (err != nil) != tc.bad || b.Slots != tc.slots || b.FirstSlot != tc.first {
			t.Errorf("parseBind(%q) = %+v, %v", tc.in, b, err)
		}
	}
	b, _ := parseBind("udp/0.0.0.0:53/3@slots=5")
	specs := b.specs("o", map[string]int{}, 1)
	for i, s := range specs {
		if !s.HasSlot || s.Slot != uint32(5+i) || !s.ReusePort || s.Name != fmt.Sprintf("udp/0.0.0.0:53#%d", i) {
			t.Errorf("spec %d = %+v", i, s)
		}
	}
	if _, err := parseLeave("udp/0.0.0.0:53#1:5:5"); err == nil {
		t.Error("parseLeave accepted BACK == AT")
	}
}

// TestReplayDualStackGroups is the case through the command line:
// four [::] dual-stack members, 128 IPv4 flows.
func TestReplayDualStackGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	flows := randomFlows(rng, 128, layers.IPProtocolUDP, netip.MustParseAddr("198.18.0.1"), 53)
	frames := make([][]byte, len(flows))
	for i, f := range flows {
		frames[i] = buildFrame(t, f)
	}
	file := writePcap(t, frames)
	for _, on := range []bool{false, true} {
		args := []string{"-pcap", file, "-json", "udp/[::]:53/4@dual"}
		if on {
			args = append(args, "-dual-stack-groups")
		}
		stdout, stderr, status := replayCmd(args...)
		if status != 0 {
			t.Fatalf("status %d, stderr %q", status, stderr)
		}
		var res replayResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, e := range res.Endpoints {
			got = append(got, e.Packets)
		}
		t.Logf("-dual-stack-groups=%v: %v", on, got)
		if !on && got[0] != 128 {
			t.Errorf("seed rule: %v, want all 128 on the first member", got)
		}
		if on {
			for _, n := range got {
				if n < 16 {
					t.Errorf("dual-stack groups: %v, want every member near 32", got)
				}
			}
		}
	}
}

func TestParseBindOptions(t *testing.T) {
	for _, tc := range []struct {
		in          string
		dual, slots bool
		count       int
		bad         bool
	}{
		{"udp/[::]:53/4@dual", true, false, 4, false},
		{"udp/[::]:53/4@dual,slots=2", true, true, 4, false},
		{"udp/[::]:53@dual", true, false, 0, false},
		{"udp/0.0.0.0:53/4@dual", false, false, 0, true},
		{"udp/[::]:53@slots", false, false, 0, true},
		{"udp/[::]:53/2@fast", false, false, 0, true},
	} {
		b, err := parseBind(tc.in)
		if (err != nil) != tc.bad || (err == nil && (b.DualStack != tc.dual || b.Slots != tc.slots || b.Count != tc.count)) {
			t.Errorf("parseBind(%q) = %+v, %v", tc.in, b, err)
		}
	}
}
