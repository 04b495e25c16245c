package labtest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

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

func TestDecideNotSupported(t *testing.T) {
	other := errors.New("other")
	tests := []struct {
		err        error
		env        string
		skip, fail bool
	}{
		{nil, "", false, false},
		{nil, "1", false, false},
		{other, "", false, false},
		{other, "1", false, false},
		{rxq.ErrNotSupported, "", true, false},
		{fmt.Errorf("zero-copy: %w", rxq.ErrNotSupported), "", true, false},
		{fmt.Errorf("zero-copy: %w", rxq.ErrNotSupported), "1", false, true},
		{fmt.Errorf("attach: %w", xdpprog.ErrNotSupported), "0", true, false},
		{fmt.Errorf("netlab: %w", netlab.ErrNotSupported), "1", false, true},
	}
	for _, tt := range tests {
		skip, fail := decideNotSupported(tt.err, tt.env)
		if skip != tt.skip || fail != tt.fail {
			t.Errorf("decideNotSupported(%v, %q) = skip %v, fail %v, want %v, %v", tt.err, tt.env, skip, fail, tt.skip, tt.fail)
		}
	}
}
