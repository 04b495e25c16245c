package latency

import (
	"strings"
	"testing"
)

func TestParseChildSpec(t *testing.T) {
	tests := []struct {
		in   string
		want childSpec
		err  bool
	}{
		{in: "kernel-reuseport,2,9100,xlat-1-r,xlat-1-r0", want: childSpec{SystemKernel, 2, 9100, "xlat-1-r", "xlat-1-r0"}},
		{in: "xdpmux-handler,64,1,ns,if", want: childSpec{SystemHandler, 64, 1, "ns", "if"}},
		{in: "", err: true},
		{in: "bogus,2,9100,ns,if", err: true},
		{in: "xdpmux-endpoint,0,9100,ns,if", err: true},
		{in: "xdpmux-endpoint,65,9100,ns,if", err: true},
		{in: "xdpmux-endpoint,2,0,ns,if", err: true},
		{in: "xdpmux-endpoint,2,65536,ns,if", err: true},
		{in: "xdpmux-endpoint,2,9100,,if", err: true},
		{in: "xdpmux-endpoint,2,9100,ns", err: true},
	}
	for _, tt := range tests {
		got, err := parseChildSpec(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("parseChildSpec(%q): err %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("parseChildSpec(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}

// TestChildFails: a child whose server cannot start exits with its error
// on stderr, which startChild returns; nothing is left running.
func TestChildFails(t *testing.T) {
	for _, sys := range systems {
		c, _, _, err := startChild(childSpec{system: sys, members: 1, port: 9100, netns: "xlatt-no-such-ns", ifname: "none0"})
		if err == nil {
			c.close()
			t.Fatalf("%s: started in a missing namespace", sys)
		}
		if !strings.Contains(err.Error(), "xlatt-no-such-ns") {
			t.Errorf("%s: error %q: want the child's stderr naming the namespace", sys, err)
		}
	}
}
