package labtest

import "testing"

func TestDecide(t *testing.T) {
	tests := []struct {
		euid       int
		env        string
		skip, fail bool
	}{
		{0, "", false, false},
		{0, "1", false, false},
		{0, "0", false, false},
		{1000, "", true, false},
		{1000, "0", true, false},
		{1000, "yes", true, false},
		{1000, "1", false, true},
		{65534, "1", false, true},
		{-1, "", true, false}, // no uids (Windows)
		{-1, "1", false, true},
	}
	for _, tt := range tests {
		skip, fail := decide(tt.euid, tt.env)
		if skip != tt.skip || fail != tt.fail {
			t.Errorf("decide(%d, %q) = skip %v, fail %v, want %v, %v", tt.euid, tt.env, skip, fail, tt.skip, tt.fail)
		}
	}
}

func TestMessage(t *testing.T) {
	tests := []struct{ needs, want string }{
		{"", "needs root"},
		{"CAP_NET_ADMIN, CAP_BPF", "needs root (CAP_NET_ADMIN, CAP_BPF)"},
	}
	for _, tt := range tests {
		if got := message(tt.needs); got != tt.want {
			t.Errorf("message(%q) = %q, want %q", tt.needs, got, tt.want)
		}
	}
}
