package labtest

import (
	"errors"
	"os"
	"testing"

	"github.com/xdpmux/xdpmux/rxq"
)

// SkipIfNotSupported skips t when err says the kernel, the device or the
// platform lacks a feature (errors.Is(err, rxq.ErrNotSupported), which
// xdpprog, dataplane, netlab and txgen alias), naming it; under
// XDPMUX_PRIVILEGED=1 it fails t instead, since CI runs on a kernel that
// must have everything. Any other err, nil included, returns, for the
// caller to handle. (cilium/ebpf internal/testutils.SkipIfNotSupported.)
func SkipIfNotSupported(t testing.TB, err error) {
	t.Helper()
	skip, fail := decideNotSupported(err, os.Getenv(EnvPrivileged))
	switch {
	case fail:
		t.Fatalf("%v, and %s=1 is set", err, EnvPrivileged)
	case skip:
		t.Skip(err)
	}
}

// decideNotSupported is SkipIfNotSupported's decision; env is the value of
// XDPMUX_PRIVILEGED.
func decideNotSupported(err error, env string) (skip, fail bool) {
	if !errors.Is(err, rxq.ErrNotSupported) {
		return false, false
	}
	if env == "1" {
		return false, true
	}
	return true, false
}
