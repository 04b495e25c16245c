package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCPUProfile: -cpuprofile writes a profile (gzipped protobuf) when
// run ends, also when it ends with an error, and fails up front when FILE
// cannot be written.
func TestRunCPUProfile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		file    string
		code    int
		want    string // in the one-line error
		written bool
	}{
		{"written after a failed run", filepath.Join(dir, "a.pprof"), 1, `"xdpmux-nonexistent0"`, true},
		{"directory missing", filepath.Join(dir, "none", "b.pprof"), 1, "-cpuprofile", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := []string{"-iface", "xdpmux-nonexistent0", "-ctl", "none", "-cpuprofile", tc.file}
			code := runMain(context.Background(), args, &out, &errb, func(runReady) { t.Errorf("run %q started", args) })
			msg := errb.String()
			if code != tc.code || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 1 {
				t.Errorf("run %q: exit %d, stderr %q; want exit %d, one line naming %s", args, code, msg, tc.code, tc.want)
			}
			b, err := os.ReadFile(tc.file)
			if !tc.written {
				if err == nil {
					t.Errorf("%s written, want none", tc.file)
				}
				return
			}
			if err != nil {
				t.Fatalf("profile not written: %v", err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("profile is not gzipped: %v", err)
			}
			if pb, err := io.ReadAll(zr); err != nil || len(pb) == 0 {
				t.Errorf("profile: %d bytes, %v; want a protobuf", len(pb), err)
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(tc.file), ".*"))
			if len(left) != 0 {
				t.Errorf("temporary files left: %q", left)
			}
		})
	}
	var out, errb bytes.Buffer
	if code := runMain(context.Background(), []string{"-h"}, &out, &errb, nil); code != 0 || !strings.Contains(out.String(), "-cpuprofile FILE") {
		t.Errorf("run -h does not name -cpuprofile: exit %d, %q", code, out.String())
	}
}
