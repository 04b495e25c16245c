package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestWrk measures with wrk (Debian package wrk) from the sending namespace:
// requests/s, latency and the spread of connections over the members, for
// xdpmux and the kernel variant in one run. It is a measurement, not a
// check: it runs only with XDPMUX_WRK=1 (and root), and asserts nothing
// about speed. XDPMUX_WRK_MEMBERS, _CONNS, _DURATION and _TX (the xdpmux
// variant's -tx: auto, xdp or packet) tune it.
func TestWrk(t *testing.T) {
	if os.Getenv("XDPMUX_WRK") != "1" {
		t.Skip("set XDPMUX_WRK=1 to run wrk")
	}
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk not installed (apt-get install wrk)")
	}
	members := envInt("XDPMUX_WRK_MEMBERS", 4)
	conns := envInt("XDPMUX_WRK_CONNS", 64)
	dur := os.Getenv("XDPMUX_WRK_DURATION")
	if dur == "" {
		dur = "10s"
	}
	tx := os.Getenv("XDPMUX_WRK_TX")
	for _, kernel := range []bool{false, true} {
		name := "xdpmux"
		if kernel {
			name = "kernel"
		}
		t.Run(name, func(t *testing.T) {
			lab := newLab(t, 2)
			s := startIn(t, lab, options{Members: members, Kernel: kernel, TX: tx})
			url := "http://" + netip.AddrPortFrom(lab.RecvAddr, 80).String() + "/"
			out, err := exec.Command("ip", "netns", "exec", lab.SendNS, "wrk", "-t2",
				"-c"+strconv.Itoa(conns), "-d"+dur, "--latency", url).CombinedOutput()
			if err != nil {
				t.Fatalf("wrk: %v\n%s", err, out)
			}
			st, _ := json.Marshal(s.stats())
			fmt.Printf("=== %s, %d members, %d connections\n%s\nstats: %s\n", name, members, conns, out, st)
		})
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
