package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/lab"
	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestWrk measures with wrk (Debian package wrk) from the sending
// namespace, in one run, one lab per variant: HTTP from N gVisor stacks on
// an xdpmux TCP group (xdpmux), from one gVisor stack on gVisor's fdbased
// endpoint (gvisor-fdbased: AF_PACKET) and on its xdp endpoint
// (gvisor-xdp: AF_XDP, queue 0, a one-queue lab), and from N kernel
// SO_REUSEPORT listeners (kernel). Per variant: GET / with each connection
// count (requests/s, latency percentiles, machine-wide CPU per request
// from /proc/stat), then a bulk run (one connection, GET /bulk of 64 MiB
// responses, MB/s). It is a measurement, not a check of speed: it runs
// only with XDPMUX_WRK=1 (and root; scripts/netstack.sh sets it) and
// checks only the report's shape.
//
// XDPMUX_WRK_MEMBERS (4), _CONNS (comma separated, 64,256), _DURATION
// (8s), _BULK_DURATION (the same), _TX (the xdpmux variant's -tx), _GSO
// (its -gso-max), _VARIANTS (comma separated subset, for profiling; the
// report's shape is then not checked), _OUT (the JSON report to write), _CPUPROFILE (a CPU
// profile of this process, which is the server, during the xdpmux
// variant's first requests run), _BULK_CPUPROFILE (the same, of its bulk
// run) and _QUICK=1 (1 s runs, 64 connections).
func TestWrk(t *testing.T) {
	if os.Getenv("XDPMUX_WRK") != "1" {
		t.Skip("set XDPMUX_WRK=1 to run wrk")
	}
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatal("wrk not installed (apt-get install wrk)")
	}
	quick := os.Getenv("XDPMUX_WRK_QUICK") == "1"
	members := envInt("XDPMUX_WRK_MEMBERS", 4)
	conns := envInts(t, "XDPMUX_WRK_CONNS", []int{64, 256})
	dur, bulkDur := os.Getenv("XDPMUX_WRK_DURATION"), os.Getenv("XDPMUX_WRK_BULK_DURATION")
	if dur == "" {
		dur = "8s"
	}
	// A bulk run counts only the GETs that finish inside it: one 64 MiB
	// body per 8 s run is ~40 requests, but a 1 s smoke run of a slow
	// variant (gVisor's xdp endpoint once read 9 MB in its second, a TCP
	// stall) finishes none. The smoke run fetches 1 MiB bodies instead.
	bulkBytes := 64 << 20
	if quick {
		dur, conns, bulkBytes = "1s", []int{64}, 1<<20
	}
	if bulkDur == "" {
		bulkDur = dur
	}
	variants := wrkVariants
	if v := os.Getenv("XDPMUX_WRK_VARIANTS"); v != "" {
		variants = strings.Split(v, ",")
	}
	tx := os.Getenv("XDPMUX_WRK_TX")
	gso, _ := strconv.Atoi(os.Getenv("XDPMUX_WRK_GSO"))
	rep := wrkReport{Schema: wrkSchema, Date: time.Now().UTC().Format(time.RFC3339), Quick: quick,
		CPUs: runtime.NumCPU(), Members: members, Queues: 2,
		Args: []string{"-t2", "-d" + dur, "--latency"}, BulkBytes: bulkBytes}
	profiled := false
	for _, name := range variants {
		t.Run(name, func(t *testing.T) {
			o := options{Members: members, TX: tx, GSOMaxSize: gso}
			queues := rep.Queues
			switch name {
			case "xdpmux":
			case "kernel":
				o.Kernel = true
			case "gvisor-fdbased":
				o.GVisorLink = gvisorFdbased
			case "gvisor-xdp":
				o.GVisorLink = gvisorXDP
			default:
				t.Fatalf("unknown variant %q, want one of %v", name, wrkVariants)
			}
			if o.GVisorLink != "" {
				queues = gvisorLabQueues(o.GVisorLink)
			}
			l := newLab(t, queues)
			addr := netip.AddrPortFrom(l.RecvAddr, 80)
			if o.GVisorLink != "" {
				addr = gvisorAddr(l, o.GVisorLink)
			}
			o.Addr = addr
			s := startIn(t, l, o)
			base := "http://" + addr.String()
			for _, c := range conns {
				var stopProfile func()
				if p := os.Getenv("XDPMUX_WRK_CPUPROFILE"); p != "" && name == "xdpmux" && !profiled {
					stopProfile, profiled = startCPUProfile(t, p), true
				}
				run := runWrk(t, l, base+"/", "-t2", "-c"+strconv.Itoa(c), "-d"+dur, "--latency")
				if stopProfile != nil {
					stopProfile()
				}
				run.Variant, run.Kind, run.Conns = name, "requests", c
				rep.Runs = append(rep.Runs, run)
				t.Logf("%s, %d conns: %.0f requests/s, latency ms avg %.2f p50 %.2f p99 %.2f, %.1f µs CPU per request (busy %.0f%%), %d socket errors",
					name, c, run.RequestsPS, run.LatAvgMs, run.LatP50Ms, run.LatP99Ms, run.CPUUsPerReq, 100*run.BusyShare, run.SocketErrs)
			}
			var stopProfile func()
			if p := os.Getenv("XDPMUX_WRK_BULK_CPUPROFILE"); p != "" && name == "xdpmux" {
				stopProfile = startCPUProfile(t, p)
			}
			run := runWrk(t, l, base+"/bulk?n="+strconv.Itoa(bulkBytes), "-t1", "-c1", "-d"+bulkDur, "--latency")
			if stopProfile != nil {
				stopProfile()
			}
			run.Variant, run.Kind, run.Conns = name, "bulk", 1
			if run.BytesRead > 0 {
				run.CPUNsPerB = run.CPUUsPerReq * 1e3 * float64(run.Requests) / run.BytesRead
			}
			rep.Runs = append(rep.Runs, run)
			st, _ := json.Marshal(s.stats())
			t.Logf("%s, bulk: %.0f MB/s, %d requests, %.2f ns CPU per byte (busy %.0f%%)\nstats: %s",
				name, run.MBPerS, run.Requests, run.CPUNsPerB, 100*run.BusyShare, st)
		})
	}
	if os.Getenv("XDPMUX_WRK_VARIANTS") == "" {
		if err := rep.check(conns); err != nil {
			t.Fatal(err)
		}
	}
	if out := os.Getenv("XDPMUX_WRK_OUT"); out != "" {
		b, err := json.MarshalIndent(&rep, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runWrk runs wrk against url from the lab's sending namespace and
// returns its report, with the machine's busy CPU time (/proc/stat) over
// the run.
func runWrk(t *testing.T, l *netlab.Lab, url string, args ...string) wrkRun {
	t.Helper()
	before := procStat(t)
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.SendNS, "wrk"}, append(args, url)...)...).CombinedOutput()
	after := procStat(t)
	if err != nil {
		t.Fatalf("wrk %v: %v\n%s", args, err, out)
	}
	run, err := parseWrk(string(out))
	if err != nil {
		t.Fatalf("wrk %v: %v\n%s", args, err, out)
	}
	cpu := after.Sub(before)
	run.BusyShare = cpu.BusyShare()
	if run.Requests > 0 {
		run.CPUUsPerReq = cpu.BusyNanos() / 1e3 / float64(run.Requests)
	}
	return run
}

func procStat(t *testing.T) lab.CPUTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	c, err := lab.ParseProcStat(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startCPUProfile profiles this process into path until the returned
// function is called.
func startCPUProfile(t *testing.T, path string) func() {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// envInts reads a comma-separated list of positive integers.
func envInts(t *testing.T, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return slices.Clone(def)
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("%s %q: want positive integers, comma separated", name, v)
		}
		out = append(out, n)
	}
	return out
}
