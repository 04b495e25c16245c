//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
)

// TestRunNICHash: `xdpmux run -hash nic` on veth takes every frame's hash
// from veth's rx_hash (the skb hash), delivers every frame once to the
// group, and says so in stats -json (hash, hash_nic, interface.hash_mode).
func TestRunNICHash(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: "xh"})
	sock := filepath.Join(t.TempDir(), "xdpmux.sock")
	run := startRun(t, lab, "-hash", "nic", "-ctl", sock, "-sink", "udp/0.0.0.0:7000/3")
	if rd := run.ready; rd.Info.HashMode != "nic" {
		t.Errorf("ready info hash mode %q (note %q), want nic", rd.Info.HashMode, rd.Info.HashNote)
	}
	const n = 300
	srcPorts := []uint16{40000, 40001, 40002, 40003, 40004, 40005, 40006, 40007}
	payload := func(i int) []byte { return fmt.Appendf(nil, "frame %d", i) }
	if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, 7000), srcPorts, payload, n); err != nil {
		t.Fatal(err)
	}
	var snap ctl.StatsSnapshot
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if snap, err = ctl.Stats(sock); err != nil {
			t.Fatal(err)
		}
		if snap.Totals.Delivered >= n || time.Now().After(deadline) {
			break
		}
	}
	js, info := statsJSON(t, sock)
	if js.Hash != "nic" || js.Totals.Delivered != n || js.Totals.HashNIC != n || js.Totals.HashSoftware != 0 ||
		info.Interface.HashMode != "nic" || info.Interface.HashNote == "" || info.Interface.RSS == nil || info.Interface.RSS.Available {
		t.Errorf("stats -json: hash %q, delivered %d, hash_nic %d, hash_software %d, interface hash %q (%q), rss %+v; want nic, %d, %d, 0, nic with a note, no RSS on veth",
			js.Hash, js.Totals.Delivered, js.Totals.HashNIC, js.Totals.HashSoftware, info.Interface.HashMode, info.Interface.HashNote, info.Interface.RSS, n, n)
	}
	var out, errb bytes.Buffer
	statsMain(context.Background(), []string{"-ctl", sock}, &out, &errb)
	if !strings.Contains(out.String(), "hash nic (frames: 300 nic, 0 software)") {
		t.Errorf("xdpmux stats lacks the hash line:\n%s", out.String())
	}
	run.stop(t)
}
