//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	readyCh := make(chan runReady, 1)
	done := make(chan int, 1)
	go func() {
		code := -1
		if err := lab.InRecv(func() error {
			code = runMain(ctx, []string{"-iface", lab.RecvIf, "-hash", "nic", "-ctl", sock, "-sink",
				"udp/0.0.0.0:7000/3"}, &stdout, &stderr, func(r runReady) { readyCh <- r })
			return nil
		}); err != nil {
			t.Error(err)
		}
		done <- code
	}()
	select {
	case rd := <-readyCh:
		if rd.Info.HashMode != "nic" {
			t.Errorf("ready info hash mode %q (note %q), want nic", rd.Info.HashMode, rd.Info.HashNote)
		}
	case code := <-done:
		t.Fatalf("run ended early with %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("run not ready: %s", stderr.String())
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
	var out, errb bytes.Buffer
	if code := statsMain(context.Background(), []string{"-ctl", sock, "-json"}, &out, &errb); code != 0 {
		t.Fatalf("stats -json: %d %s", code, errb.String())
	}
	var js ctl.StatsSnapshot
	var info runInfo
	if err := json.Unmarshal(out.Bytes(), &js); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js.Info, &info); err != nil {
		t.Fatal(err)
	}
	if js.Hash != "nic" || js.Totals.Delivered != n || js.Totals.HashNIC != n || js.Totals.HashSoftware != 0 ||
		info.Interface.HashMode != "nic" || info.Interface.HashNote == "" || info.Interface.RSS == nil || info.Interface.RSS.Available {
		t.Errorf("stats -json: hash %q, delivered %d, hash_nic %d, hash_software %d, interface hash %q (%q), rss %+v; want nic, %d, %d, 0, nic with a note, no RSS on veth",
			js.Hash, js.Totals.Delivered, js.Totals.HashNIC, js.Totals.HashSoftware, info.Interface.HashMode, info.Interface.HashNote, info.Interface.RSS, n, n)
	}
	out.Reset()
	statsMain(context.Background(), []string{"-ctl", sock}, &out, &errb)
	if !strings.Contains(out.String(), "hash nic (frames: 300 nic, 0 software)") {
		t.Errorf("xdpmux stats lacks the hash line:\n%s", out.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exit %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
}
