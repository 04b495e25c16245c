package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// dashboardFile is the Grafana dashboard shipped for the metrics.
const dashboardFile = "../../docs/grafana-xdpmux.json"

var metricName = regexp.MustCompile(`\bxdpmux_[a-z0-9_]+\b`)

// dashboardMetrics returns every metric name a query of the dashboard
// (panel targets, template variables) names.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	seen := map[string]bool{}
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(x, k)
			}
		case []any:
			for _, x := range v {
				walk(x, key)
			}
		case string:
			if key == "expr" || key == "query" || key == "definition" {
				for _, m := range metricName.FindAllString(v, -1) {
					seen[m] = true
				}
			}
		}
	}
	walk(doc, "")
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TestDashboardMetricsExist checks that every metric the Grafana dashboard
// queries is served on /metrics (by a dataplane with an endpoint and XDP
// counters, so that every family has samples).
func TestDashboardMetricsExist(t *testing.T) {
	names := dashboardMetrics(t)
	if len(names) < 20 {
		t.Fatalf("dashboard queries only %d metrics: %v", len(names), names)
	}
	set, err := rxqtest.NewSet(2, rxqtest.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dp, err := dataplane.New(dataplane.Config{Sources: rxqtest.Sources(set)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		dp.Close()
		for _, s := range set {
			s.Close()
		}
	}()
	if _, err := dp.Bind(pcb.Spec{Proto: pcb.UDP, Local: netip.MustParseAddrPort("0.0.0.0:7000"), ReusePort: true,
		Owner: pcb.UIDOwner(0), Name: "udp/0.0.0.0:7000#0"}, dataplane.EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	xdp := func() ([]dataplane.QueueXDPStats, error) {
		return []dataplane.QueueXDPStats{{Queue: 0, IfQueue: 0}, {Queue: 1, IfQueue: 1}}, nil
	}
	info := dataplane.InterfaceInfo{Ifname: "test0", XDPMode: "native", SocketMode: "copy"}
	srv := httptest.NewServer(metricsHandler(newCollector(dp.Stats, xdp, info), slog.New(slog.DiscardHandler)))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			served[f[2]] = true
		}
	}
	for _, n := range names {
		if !served[n] {
			t.Errorf("dashboard queries %s, which /metrics does not serve", n)
		}
	}
}
