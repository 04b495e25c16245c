package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"
)

func TestParseBindQueues(t *testing.T) {
	for _, tc := range []struct {
		in       string
		local    bool
		hasQueue bool
		queue    uint32
		bad      bool
	}{
		{"udp/0.0.0.0:53/4@local", true, false, 0, false},
		{"udp/0.0.0.0:53/4@queue=3", false, true, 3, false},
		{"udp/0.0.0.0:53/4@slots,local", true, false, 0, false},
		{"udp/0.0.0.0:53@local", false, false, 0, true},
		{"udp/0.0.0.0:53@queue=1", false, false, 0, true},
		{"udp/0.0.0.0:53/2@queue", false, false, 0, true},
		{"udp/0.0.0.0:53/2@queue=x", false, false, 0, true},
		{"udp/0.0.0.0:53/2@queue=65536", false, false, 0, true},
		{"udp/0.0.0.0:53/2@local,queue=1", false, false, 0, true},
		{"udp/0.0.0.0:53/2@queue=1,local", false, false, 0, true},
	} {
		b, err := parseBind(tc.in)
		if (err != nil) != tc.bad || (err == nil && (b.QueueLocal != tc.local || b.HasQueue != tc.hasQueue || b.Queue != tc.queue)) {
			t.Errorf("parseBind(%q) = %+v, %v", tc.in, b, err)
		}
	}
	b, _ := parseBind("udp/0.0.0.0:53/5@local")
	for i, s := range b.specs("o", map[string]int{}, 2) {
		if !s.HasQueue || s.Queue != uint32(i%2) {
			t.Errorf("@local member %d of 2 queues: queue %v %d, want %d", i, s.HasQueue, s.Queue, i%2)
		}
	}
}

// TestReplayQueueLocal: with @local every packet of queue q reaches one of
// the members declared for q, under every policy, and the summary says
// so; without it about half of each queue's packets go to the other
// queue's members. The trace agrees with the summary.
func TestReplayQueueLocal(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	var frames [][]byte
	for _, f := range randomFlows(rng, 2000, layers.IPProtocolUDP, netip.MustParseAddr("198.18.0.1"), 53) {
		frames = append(frames, buildFrame(t, f))
	}
	file := writePcap(t, frames)
	for _, policy := range []string{"threshold", "modulo", "maglev", "quic"} {
		for _, bind := range []string{"udp/0.0.0.0:53/4@local", "udp/0.0.0.0:53/4@slots,local", "udp/0.0.0.0:53/4"} {
			t.Run(policy+" "+bind, func(t *testing.T) {
				local := strings.Contains(bind, "local")
				stdout, stderr, status := replayCmd("-pcap", file, "-queues", "2", "-policy", policy, "-per-queue", "-json", bind)
				if status != 0 {
					t.Fatalf("status %d, stderr %q", status, stderr)
				}
				var res replayResult
				if err := json.Unmarshal([]byte(stdout), &res); err != nil {
					t.Fatal(err)
				}
				for _, q := range res.Queues {
					if q.Local == nil {
						t.Fatalf("queue %d: no local count", q.Queue)
					}
					var sum uint64
					for _, e := range q.Endpoints {
						sum += e.Packets
						i, _ := strconv.Atoi(e.Name[strings.IndexByte(e.Name, '#')+1:])
						if local && i%2 != q.Queue {
							t.Errorf("queue %d: %d packets to %s, a member of queue %d", q.Queue, e.Packets, e.Name, i%2)
						}
					}
					if sum != q.Packets {
						t.Errorf("queue %d: endpoints sum to %d, queue has %d", q.Queue, sum, q.Packets)
					}
					share := float64(*q.Local) / float64(q.Packets)
					if local && share != 1 || !local && share != 0 {
						t.Errorf("queue %d: %.3f to its own members (local %v)", q.Queue, share, local)
					}
					if want := 2; local && len(q.Endpoints) != want {
						t.Errorf("queue %d reached %d endpoints, want %d", q.Queue, len(q.Endpoints), want)
					}
				}
				trace, _, _ := replayCmd("-pcap", file, "-queues", "2", "-policy", policy, "-trace", bind)
				for _, line := range strings.Split(strings.TrimSpace(trace), "\n") {
					f := strings.Fields(line) // INDEX HASH QUEUE ENDPOINT
					if !local || f[3] == "-" {
						continue
					}
					q, _ := strconv.Atoi(f[2])
					i, _ := strconv.Atoi(f[3][strings.IndexByte(f[3], '#')+1:])
					if i%2 != q {
						t.Fatalf("trace line %q: member of another queue", line)
					}
				}
			})
		}
	}
	out, _, _ := replayCmd("-pcap", file, "-queues", "2", "udp/0.0.0.0:53/4@local")
	if !strings.Contains(out, "to members of queue 1") {
		t.Errorf("table without the per-queue section:\n%s", out)
	}
	plain, _, _ := replayCmd("-pcap", file, "-queues", "2", "-json", "udp/0.0.0.0:53/4")
	if strings.Contains(plain, `"local"`) || strings.Contains(plain, `"load"`) {
		t.Errorf("plain -json output grew fields: %s", plain)
	}
}

// TestReplaySlowMember: one member of four reads a frame every 16 packets
// on rings of 32: it drops without bounded load; with it, new flows avoid
// it and its drops fall to a quarter or less. Every packet is still
// counted exactly once (accepted or dropped).
func TestReplaySlowMember(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var frames [][]byte
	// Rounds of new flows (as DNS clients), two packets each.
	for range 20 {
		fl := randomFlows(rng, 200, layers.IPProtocolUDP, netip.MustParseAddr("198.18.0.1"), 53)
		for range 2 {
			for _, f := range fl {
				frames = append(frames, buildFrame(t, f))
			}
		}
	}
	file := writePcap(t, frames)
	run := func(fill string) replayLoad {
		t.Helper()
		stdout, stderr, status := replayCmd("-pcap", file, "-queues", "2", "-policy", "maglev", "-json",
			"-slow", "udp/0.0.0.0:53#0:16", "-ring", "32", "-bounded-load", fill, "udp/0.0.0.0:53/4")
		if status != 0 {
			t.Fatalf("status %d, stderr %q", status, stderr)
		}
		var res replayResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatal(err)
		}
		if res.Load == nil {
			t.Fatal("no load report")
		}
		var total uint64
		for _, e := range res.Endpoints {
			total += e.Packets
		}
		if l := res.Load; l.Accepted+l.Dropped != total || total != uint64(len(frames)) {
			t.Fatalf("accepted %d + dropped %d, endpoints %d, frames %d", l.Accepted, l.Dropped, total, len(frames))
		}
		return *res.Load
	}
	off, on := run("0"), run("0.5")
	t.Logf("without bounded load: dropped %d (slow member %d), Jain %.4f", off.Dropped, off.Endpoints[0].Dropped, off.Jain)
	t.Logf("with bounded load 0.5: dropped %d (slow member %d), Jain %.4f, kept %d, evicted %d", on.Dropped, on.Endpoints[0].Dropped, on.Jain, on.FlowKept, on.FlowEvicted)
	if off.Dropped == 0 || off.Endpoints[0].Dropped != off.Dropped {
		t.Errorf("without bounded load: drops %+v, want all at the slow member", off.Endpoints)
	}
	if on.Dropped*4 > off.Dropped {
		t.Errorf("bounded load dropped %d, without %d: want at most a quarter", on.Dropped, off.Dropped)
	}
	if on.FlowKept == 0 {
		t.Error("no flow kept on its member")
	}
	for _, bad := range [][]string{
		{"-slow", "udp/0.0.0.0:53#0"}, {"-slow", "x:0"}, {"-bounded-load", "1.5"}, {"-bounded-load", "0.5", "-ring", "0"},
		{"-bounded-load", "0.5", "-flow-table", "3"},
	} {
		args := append([]string{"-pcap", file}, bad...)
		if _, stderr, status := replayCmd(append(args, "udp/0.0.0.0:53/4")...); status != 2 || stderr == "" {
			t.Errorf("%v: status %d, stderr %q; want 2 and a message", bad, status, stderr)
		}
	}
	out, _, _ := replayCmd("-pcap", file, "-slow", "udp/0.0.0.0:53#0:16", "-ring", "32", "udp/0.0.0.0:53/4")
	if !strings.Contains(out, fmt.Sprintf("RINGS of %d frames", 32)) {
		t.Errorf("table without the rings section:\n%s", out)
	}
}

// FuzzParseBind: BIND and -slow parsing never panic; a BIND accepted
// gives specs that validate, with queues below the count given.
func FuzzParseBind(f *testing.F) {
	for _, s := range []string{"udp/0.0.0.0:53/4@local", "udp/0.0.0.0:53/4@queue=1,slots=3", "tcp/[::]:443/2@dual,local", "udp/0.0.0.0:53"} {
		f.Add(s, "udp/0.0.0.0:53#0:8,x:1")
	}
	f.Fuzz(func(t *testing.T, bind, slow string) {
		parseSlow(slow)
		b, err := parseBind(bind)
		if err != nil {
			return
		}
		for _, s := range b.specs("o", map[string]int{}, 3) {
			if err := s.Validate(); err != nil {
				t.Fatalf("parseBind(%q) accepted, spec %+v: %v", bind, s, err)
			}
			if b.QueueLocal && s.Queue >= 3 {
				t.Fatalf("parseBind(%q): @local queue %d of 3", bind, s.Queue)
			}
		}
	})
}
