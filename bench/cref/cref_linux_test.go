package cref

import (
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// build compiles the reference or skips for want of libxdp-dev (a failure
// under XDPMUX_PRIVILEGED=1, where CI installs it).
func build(t *testing.T) string {
	t.Helper()
	bin, err := Build(t.TempDir())
	if errors.Is(err, ErrNoLibxdp) {
		if os.Getenv("XDPMUX_PRIVILEGED") == "1" {
			t.Fatalf("XDPMUX_PRIVILEGED=1 but %v", err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestBuild(t *testing.T) {
	if fi, err := os.Stat(build(t)); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("no executable: %v", err)
	}
}

// TestReceives runs the reference on a two-queue lab and sends it
// datagrams from many source ports: every one must be counted (the lab is
// quiet and the rate low), spread over both queues.
func TestReceives(t *testing.T) {
	labtest.RequirePrivileged(t, "network namespaces, XDP and AF_XDP")
	bin := build(t)
	l := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: "xcref"})
	p, err := Start(bin, l.RecvNS, l.RecvIf, 2, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	c0, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	ports := make([]uint16, 64)
	for i := range ports {
		ports[i] = uint16(20000 + i)
	}
	const n = 512
	if err := netlab.SendUDP(l, netip.AddrPortFrom(l.RecvAddr, 9000), ports, nil, n); err != nil {
		t.Fatal(err)
	}
	var got uint64
	var c Counters
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err = p.Counters(); err != nil {
			t.Fatal(err)
		}
		got = 0
		for i := range c.Packets {
			got += c.Packets[i] - c0.Packets[i]
		}
		if got >= n {
			break
		}
	}
	// libxdp's program redirects every frame of a queue with a socket,
	// so the lab's few other frames (none: static neighbours, IPv6 off)
	// would count too: want at least n.
	if got < n {
		t.Fatalf("received %d, want %d (counters %+v)", got, n, c)
	}
	for q, v := range c.Packets {
		if v == c0.Packets[q] {
			t.Errorf("queue %d received nothing: %+v", q, c)
		}
	}
	if c.RxInvalidDescs != 0 {
		t.Errorf("rx_invalid_descs %d, want 0", c.RxInvalidDescs)
	}
}
