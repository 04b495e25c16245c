package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunConfigFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		args    []string
		iface   string
		metrics string
		allow   int
		binds   []string
		frames  int
		sink    bool
		err     string
	}{
		{name: "file alone", file: "iface eth1\nmetrics 9100\n# comment\n\nallow uid=1000,ports=8000-8999\nbind udp/0.0.0.0:53/4\nsink\nframes 8192\n",
			iface: "eth1", metrics: "127.0.0.1:9100", allow: 1, binds: []string{"udp/0.0.0.0:53"}, frames: 8192, sink: true},
		{name: "flags override, rules and binds add", file: "iface eth1\nmetrics 9100\nallow uid=1000,ports=8000-8999\nbind udp/0.0.0.0:53/4\n",
			args:  []string{"-iface", "eth2", "-metrics=9200", "-allow", "uid=1001,ports=9000", "tcp/0.0.0.0:80"},
			iface: "eth2", metrics: "127.0.0.1:9200", allow: 2, binds: []string{"udp/0.0.0.0:53", "tcp/0.0.0.0:80"}},
		{name: "takeover is for the command line", file: "iface eth1\ntakeover\n", err: "command line"},
		{name: "bind needs a BIND", file: "iface eth1\nbind\n", err: "bind without"},
		{name: "unknown flag", file: "iface eth1\nnosuchflag 1\n", err: "nosuchflag"},
		{name: "bad frames", file: "iface eth1\nframes 1000\n", err: "-frames 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "xdpmux.conf")
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-config", path}, tc.args...)
			cfg, err := parseRunArgs(args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseRunArgs: %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var binds []string
			for _, b := range cfg.binds {
				binds = append(binds, b.String())
			}
			if cfg.iface != tc.iface || cfg.metrics != tc.metrics || len(cfg.allow) != tc.allow ||
				strings.Join(binds, " ") != strings.Join(tc.binds, " ") || cfg.frames != tc.frames || cfg.sink != tc.sink {
				t.Errorf("got iface %q metrics %q allow %d binds %v frames %d sink %v, want %q %q %d %v %d %v",
					cfg.iface, cfg.metrics, len(cfg.allow), binds, cfg.frames, cfg.sink,
					tc.iface, tc.metrics, tc.allow, tc.binds, tc.frames, tc.sink)
			}
			// kill -USR2 starts the new instance with the arguments as
			// given: it reads the file again.
			if strings.Join(cfg.args, " ") != strings.Join(args, " ") {
				t.Errorf("args kept for a takeover: %v, want %v", cfg.args, args)
			}
		})
	}
}

func TestRunConfigMissing(t *testing.T) {
	if _, err := parseRunArgs([]string{"-config", filepath.Join(t.TempDir(), "none.conf")}); err == nil {
		t.Error("a missing config file is not an error")
	}
	if _, err := parseRunArgs([]string{"-iface", "eth0", "-config"}); err == nil || !strings.Contains(err.Error(), "missing FILE") {
		t.Errorf("-config without FILE: %v", err)
	}
	if _, err := parseRunArgs([]string{"-iface", "eth0", "-takeover", "-ctl", "none"}); err == nil {
		t.Error("-takeover without a control socket is not an error")
	}
}

// TestShippedConfig parses the example config installed with the unit.
func TestShippedConfig(t *testing.T) {
	cfg, err := parseRunArgs([]string{"-config", "../../scripts/systemd/xdpmux.conf"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.iface != "eth0" || cfg.ctlPath != "/run/xdpmux/xdpmux.sock" || cfg.frames != 16384 {
		t.Errorf("shipped config: iface %q ctl %q frames %d", cfg.iface, cfg.ctlPath, cfg.frames)
	}
}
