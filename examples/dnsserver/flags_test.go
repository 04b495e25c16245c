package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestFlagErrors: contradictory or malformed flags are one-line errors
// with exit status 2, before anything is opened.
func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-handler", "-kernel"}, "-handler"},
		{[]string{"-handler", "-batch", "-iface", "lo"}, "-handler"},
		{[]string{"-listen", "nonsense"}, "-listen"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, code, errb.String())
		}
		if msg := errb.String(); !strings.Contains(msg, tc.want) || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
			t.Errorf("%v: stderr %q, want one line naming %s", tc.args, msg, tc.want)
		}
	}
}
