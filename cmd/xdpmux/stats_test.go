package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// fakeRun is a dataplane over rxqtest sources with a control server, as
// `xdpmux run` would have, without root.
type fakeRun struct {
	set  []*rxqtest.Source
	dp   *dataplane.Dataplane
	path string
	info dataplane.InterfaceInfo
	xdp  []dataplane.QueueXDPStats
}

func newFakeRun(t *testing.T) *fakeRun {
	t.Helper()
	set, err := rxqtest.NewSet(2, rxqtest.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dp, err := dataplane.New(dataplane.Config{Sources: rxqtest.Sources(set)})
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.Start(); err != nil {
		t.Fatal(err)
	}
	f := &fakeRun{set: set, dp: dp, path: filepath.Join(t.TempDir(), "xdpmux.sock"),
		info: dataplane.InterfaceInfo{Ifname: "fake0", Ifindex: 7, Queues: []int{0, 1}, RxQueues: 2, XDPMode: "native", SocketMode: "copy"},
		xdp: []dataplane.QueueXDPStats{
			{Queue: 0, IfQueue: 0, Socket: rxq.Stats{RxDropped: 3}, Program: xdpprog.QueueCounters{Queue: 0, Redirected: 11, Passed: 5}},
			{Queue: 1, IfQueue: 1, Program: xdpprog.QueueCounters{Queue: 1, Redirected: 12}},
		}}
	srv := ctl.NewServer(dp, func() any {
		return runInfo{Interface: f.info, XDP: f.xdp, Sinks: []sinkInfo{{Name: "udp/0.0.0.0:53#0", Packets: 1, Bytes: 2}}}
	})
	l, err := ctl.ListenUnix(f.path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		dp.Close()
		for _, s := range set {
			s.Close()
		}
	})
	return f
}

// traffic binds udp/0.0.0.0:53 and delivers n frames plus one malformed
// one, then waits until the counters show them.
func (f *fakeRun) traffic(t *testing.T, n int) *dataplane.Endpoint {
	t.Helper()
	ep, err := f.dp.Bind(pcb.Spec{Proto: pcb.UDP, Local: netip.MustParseAddrPort("0.0.0.0:53"), Owner: "t", Name: "udp/0.0.0.0:53#0"}, dataplane.EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	dst := netip.MustParseAddrPort("198.18.0.2:53")
	for i := range n {
		f.set[i%2].Inject(packettest.UDP4(netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), uint16(1000+i)), dst, []byte("q")))
	}
	f.set[0].Inject([]byte{1, 2, 3})
	deadline := time.Now().Add(10 * time.Second)
	for f.dp.Stats().Totals().RX != uint64(n+1) {
		if time.Now().After(deadline) {
			t.Fatal("frames not received")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ep
}

func TestStatsCommand(t *testing.T) {
	f := newFakeRun(t)
	f.traffic(t, 10)

	var out, errb bytes.Buffer
	if code := statsMain(context.Background(), []string{"-ctl", f.path, "-json"}, &out, &errb); code != 0 {
		t.Fatalf("stats -json: exit %d: %s", code, errb.String())
	}
	var snap ctl.StatsSnapshot
	if err := json.Unmarshal(out.Bytes(), &snap); err != nil {
		t.Fatalf("stats -json output %q: %v", out.String(), err)
	}
	var info runInfo
	if err := json.Unmarshal(snap.Info, &info); err != nil {
		t.Fatal(err)
	}
	if snap.Totals.RX != 11 || snap.Totals.Delivered != 10 || len(snap.Endpoints) != 1 || info.Interface.Ifname != "fake0" ||
		len(info.XDP) != 2 || info.XDP[1].Program.Redirected != 12 {
		t.Errorf("snapshot %+v, info %+v", snap, info)
	}
	if snap.Hash != "toeplitz" || snap.Totals.HashSoftware != 10 || snap.Totals.HashNIC != 0 {
		t.Errorf("stats -json: hash %q, hash_software %d, hash_nic %d; want toeplitz, 10, 0", snap.Hash, snap.Totals.HashSoftware, snap.Totals.HashNIC)
	}

	out.Reset()
	if code := statsMain(context.Background(), []string{"-ctl", f.path}, &out, &errb); code != 0 {
		t.Fatalf("stats: exit %d: %s", code, errb.String())
	}
	table := out.String()
	t.Logf("\n%s", table)
	for _, want := range []string{"xdpmux on fake0", "xdp native, xsk copy", "QUEUE", "XDP_REDIR", "total", "11",
		"MALFORMED", "truncated", "udp/0.0.0.0:53#0", "sink, 2 bytes", "OVER_BUDGET"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestStatsWatch(t *testing.T) {
	f := newFakeRun(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- statsMain(ctx, []string{"-ctl", f.path, "-watch", "-json", "-interval", "10ms"}, pw, &errb)
		pw.Close()
	}()
	// Read three snapshots, then stop.
	dec := json.NewDecoder(pr)
	for i := range 3 {
		var snap ctl.StatsSnapshot
		if err := dec.Decode(&snap); err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
	}
	cancel()
	go io.Copy(&out, pr)
	if code := <-done; code != 0 {
		t.Errorf("stats -watch: exit %d: %s", code, errb.String())
	}
}

func TestStatsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-ctl", filepath.Join(t.TempDir(), "none.sock")}, 1, "none.sock"},
		{[]string{"-bogus"}, 2, "bogus"},
		{[]string{"extra"}, 2, "extra"},
		{[]string{"-interval", "0s", "-watch"}, 2, "-interval"},
	} {
		var out, errb bytes.Buffer
		code := statsMain(context.Background(), tc.args, &out, &errb)
		msg := errb.String()
		if code != tc.code || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 1 {
			t.Errorf("stats %q: exit %d, stderr %q; want exit %d, one line naming %q", tc.args, code, msg, tc.code, tc.want)
		}
	}
}

func TestMetricsCollector(t *testing.T) {
	f := newFakeRun(t)
	f.traffic(t, 10)
	a, err := f.dp.Bind(pcb.Spec{Proto: pcb.UDP, Local: netip.MustParseAddrPort("0.0.0.0:80"), ReusePort: true, Owner: "t", Name: "a"}, dataplane.EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := f.dp.Bind(pcb.Spec{Proto: pcb.UDP, Local: netip.MustParseAddrPort("0.0.0.0:80"), ReusePort: true, Owner: "t", Name: "b"}, dataplane.EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	xdp := func() ([]dataplane.QueueXDPStats, error) { return f.xdp, nil }
	h := metricsHandler(newCollector(f.dp.Stats, xdp, f.info), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := scrape(t, srv.URL)
	for _, want := range []string{
		`xdpmux_queue_rx_total{queue="0"}`,
		`xdpmux_queue_delivered_total{queue="1"} 5`,
		`xdpmux_queue_unmatched_total{queue="0"} 0`,
		`xdpmux_queue_malformed_total{queue="0",reason="truncated"} 1`,
		`xdpmux_queue_ring_full_total{queue="0"} 0`,
		`xdpmux_queue_closed_dropped_total{queue="0"} 0`,
		`xdpmux_queue_wait_errors_total{queue="0"} 0`,
		`xdpmux_endpoint_delivered_total{endpoint="udp/0.0.0.0:53#0",spec="udp/0.0.0.0:53"} 10`,
		`xdpmux_endpoint_dropped_total{endpoint="a",spec="udp/0.0.0.0:80"} 0`,
		`xdpmux_group_members{spec="udp/0.0.0.0:80"} 2`,
		`xdpmux_group_members{spec="udp/0.0.0.0:53"} 1`,
		`xdpmux_xsk_rx_dropped_total{if_queue="0",queue="0"} 3`,
		`xdpmux_xdp_redirected_total{if_queue="1",queue="1"} 12`,
		`xdpmux_info{ifname="fake0",mode="native",xsk_mode="copy"} 1`,
		`xdpmux_queue_hashed_total{queue="0",source="software"} 5`,
		`xdpmux_queue_hashed_total{queue="1",source="nic"} 0`,
		`xdpmux_hash_info{mode="toeplitz"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// A failing XDP read makes the scrape fail loudly, not lie.
	h2 := metricsHandler(newCollector(f.dp.Stats, func() ([]dataplane.QueueXDPStats, error) {
		return nil, errors.New("map gone")
	}, f.info), slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "map gone") {
		t.Errorf("scrape with failing XDP stats: %d %q", rec.Code, rec.Body.String())
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := httpGet(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
