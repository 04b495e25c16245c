package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xdpmux/xdpmux/localgroup"
)

func TestFlags(t *testing.T) {
	tests := []struct {
		args   []string
		status int
		errSub string
	}{
		{[]string{"-listen", "nope"}, 2, "-listen"},
		{[]string{"-listen", "198.18.0.1:443"}, 2, "-iface is required"},
		{[]string{"-listen", "198.18.0.1:443", "-iface", "x", "-members", "0"}, 2, "at least 1"},
		{[]string{"-listen", "198.18.0.1:443", "-iface", "x", "-policy", "random"}, 2, "unknown policy"},
		{[]string{"-listen", "198.18.0.1:443", "-kernel", "-cert", "c.pem"}, 2, "-cert and -key"},
		{[]string{"-bogus"}, 2, "flag provided but not defined"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		if got := run(tc.args, &out, &errb); got != tc.status || !strings.Contains(errb.String(), tc.errSub) {
			t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tc.args, got, errb.String(), tc.status, tc.errSub)
		}
	}
	o, err := parseOptions("eth1", "198.18.0.1:443", 4, "maglev", false, "", "")
	if err != nil || o.Policy != localgroup.Maglev || o.Members != 4 || o.Listen.Port() != 443 {
		t.Errorf("parseOptions = %+v, %v", o, err)
	}
}
