package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"
)

// TestReplayIndir: with -indir each frame's queue is table[hash & (len-1)],
// checked against the reference hash; -queues defaults to what the table
// needs, and the pick uses that queue count's shift.
func TestReplayIndir(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	flows := randomFlows(rng, 200, layers.IPProtocolUDP, netip.MustParseAddr("198.18.0.1"), 53)
	frames := make([][]byte, len(flows))
	for i, f := range flows {
		frames[i] = buildFrame(t, f)
	}
	file := writePcap(t, frames)
	for _, tc := range []struct {
		name   string
		args   []string
		table  []int
		queues int
	}{
		{"reversed 4", []string{"-indir", "3,2,1,0"}, []int{3, 2, 1, 0}, 4},
		{"all on queue 1 of 2", []string{"-indir", "1,1"}, []int{1, 1}, 2},
		{"explicit -queues", []string{"-queues", "4", "-indir", "0,1"}, []int{0, 1}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-pcap", file, "-trace"}, tc.args...)
			stdout, stderr, status := replayCmd(append(args, "udp/0.0.0.0:53/4")...)
			if status != 0 {
				t.Fatalf("status %d, stderr %q", status, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if len(lines) != len(flows) {
				t.Fatalf("%d trace lines, want %d", len(lines), len(flows))
			}
			for i, f := range flows {
				h := refHash(f)
				q := tc.table[int(h)&(len(tc.table)-1)]
				want := fmt.Sprintf("%d %08x %d udp/0.0.0.0:53#%d", i, h, q, refThreshold(h, tc.queues, 4))
				if lines[i] != want {
					t.Fatalf("line %d: %q, want %q", i, lines[i], want)
				}
			}
		})
	}
}

func TestParseIndir(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
		err  bool
	}{
		{"0,1,2,3", "[0 1 2 3]", false},
		{" 1 , 0 ", "[1 0]", false},
		{"0,,1", "", true},
		{"-1", "", true},
		{"70000", "", true},
	} {
		got, err := parseIndir(tt.in)
		if (err != nil) != tt.err || (err == nil && fmt.Sprint(got) != tt.want) {
			t.Errorf("parseIndir(%q) = %v, %v; want %s, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
