package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// httpGet fetches url and returns the body; dial, if not nil, dials (e.g.
// inside a network namespace).
func httpGet(url string) (string, error) { return httpGetDial(url, nil) }

func httpGetDial(url string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (string, error) {
	tr := &http.Transport{DialContext: dial, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b), nil
}

func TestRunArgErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // in the one-line error
	}{
		{[]string{}, 2, "-iface"},
		{[]string{"-iface", "x", "-policy", "best"}, 2, `"best"`},
		{[]string{"-iface", "x", "-queues", "0,z"}, 2, `"z"`},
		{[]string{"-iface", "x", "-queues", "-1"}, 2, `"-1"`},
		{[]string{"-iface", "x", "udp/0.0.0.0"}, 2, "udp/0.0.0.0"},
		{[]string{"-iface", "x", "udp/0.0.0.0:53/0"}, 2, "udp/0.0.0.0:53/0"},
		{[]string{"-iface", "x", "-metrics", "host:port"}, 2, "host:port"},
		{[]string{"-iface", "x", "-nope"}, 2, "-nope"},
		{[]string{"-iface", "x", "-hash", "rss"}, 2, `-hash "rss"`},
		{[]string{"-iface", "x", "-hash", "NIC"}, 2, `want toeplitz or nic`},
		// Unknown interface and queue out of range are found before any
		// privilege is needed.
		{[]string{"-iface", "xdpmux-nonexistent0", "-ctl", "none"}, 1, `"xdpmux-nonexistent0"`},
		{[]string{"-iface", "lo", "-queues", "0,5", "-ctl", "none"}, 1, "queue 5 out of range"},
	} {
		var out, errb bytes.Buffer
		code := runMain(context.Background(), tc.args, &out, &errb, func(runReady) {
			t.Errorf("run %q started", tc.args)
		})
		msg := errb.String()
		if code != tc.code || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 1 {
			t.Errorf("run %q: exit %d, stderr %q; want exit %d, one line naming %s", tc.args, code, msg, tc.code, tc.want)
		}
	}
}

func TestRunHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runMain(context.Background(), []string{"-h"}, &out, &errb, nil); code != 0 || !strings.Contains(out.String(), "usage: xdpmux run") {
		t.Errorf("run -h: exit %d, %q", code, out.String())
	}
}

func TestParseRunArgs(t *testing.T) {
	cfg, err := parseRunArgs([]string{"-iface", "eth0", "udp/0.0.0.0:53/4", "-queues", "1,0", "-metrics", "9100", "tcp/[::]:443", "-policy", "maglev", "-sink"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.iface != "eth0" || fmt.Sprint(cfg.queues) != "[1 0]" || cfg.metrics != "127.0.0.1:9100" || cfg.policy.String() != "maglev" ||
		!cfg.sink || len(cfg.binds) != 2 || cfg.binds[0].Count != 4 || cfg.binds[1].String() != "tcp/[::]:443" {
		t.Errorf("parsed %+v", cfg)
	}
	cfg, err = parseRunArgs([]string{"-iface", "eth0", "-allow", "uid=1000,ports=5000-5999", "-allow", "uid=65534,ports=53,proto=udp", "-nonlocal-bind"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.allow) != 2 || cfg.allow[0].String() != "uid=1000,ports=5000-5999" || cfg.allow[1].String() != "uid=65534,ports=53,proto=udp" || !cfg.nonlocal {
		t.Errorf("parsed -allow/-nonlocal-bind: %+v", cfg)
	}
	for _, bad := range []string{"uid=x,ports=1", "ports=1-2", "uid=1,ports=9-3", "uid=1,ports=1,proto=icmp"} {
		if _, err := parseRunArgs([]string{"-iface", "eth0", "-allow", bad}); err == nil || !strings.Contains(err.Error(), "-allow") {
			t.Errorf("-allow %q: %v, want an error naming -allow", bad, err)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "toeplitz"},
		{[]string{"-hash", "toeplitz"}, "toeplitz"},
		{[]string{"-hash", "nic"}, "nic"},
	} {
		cfg, err := parseRunArgs(append([]string{"-iface", "eth0"}, tt.args...))
		if err != nil || cfg.hash != tt.want || cfg.interfaceConfig().Config.Hash != tt.want {
			t.Errorf("parse %q: hash %q, %v; want %q", tt.args, cfg.hash, err, tt.want)
		}
	}
	for in, want := range map[string]string{":9100": "127.0.0.1:9100", "0.0.0.0:1": "0.0.0.0:1", "[::1]:2": "[::1]:2", "0": "127.0.0.1:0"} {
		if got, err := metricsAddr(in); err != nil || got != want {
			t.Errorf("metricsAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
