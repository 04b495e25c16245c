package labtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab"
)

// EnvPrivileged names the environment variable that, set to "1", says
// privileged tests must run: a test that would skip for lack of root fails.
const EnvPrivileged = "XDPMUX_PRIVILEGED"

// RequirePrivileged returns when running as root; otherwise it skips t, or
// fails it when XDPMUX_PRIVILEGED=1 says privileged tests must run. needs
// says what the test needs, e.g. "CAP_NET_ADMIN, CAP_BPF"; it may be empty.
func RequirePrivileged(t testing.TB, needs string) {
	t.Helper()
	skip, fail := decide(os.Geteuid(), os.Getenv(EnvPrivileged))
	switch {
	case fail:
		t.Fatalf("%s and %s=1 is set", message(needs), EnvPrivileged)
	case skip:
		t.Skip(message(needs))
	}
}

// decide is RequirePrivileged's decision: run as root (euid 0); otherwise
// skip, or fail when env (the value of XDPMUX_PRIVILEGED) is "1".
func decide(euid int, env string) (skip, fail bool) {
	if euid == 0 {
		return false, false
	}
	if env == "1" {
		return false, true
	}
	return true, false
}

func message(needs string) string {
	if needs == "" {
		return "needs root"
	}
	return "needs root (" + needs + ")"
}

// NewLab calls RequirePrivileged, netlab.Cleanup(cfg.Prefix) for stale labs
// of dead processes, builds a lab and deletes it when the test ends
// (t.Cleanup; an error, or a namespace still there afterwards, is reported
// with t.Errorf). Cleanups run last in, first
// out: register what must go before the lab (sockets, XDP programs,
// interfaces opened in it) after calling NewLab.
func NewLab(t testing.TB, cfg netlab.Config) *netlab.Lab {
	t.Helper()
	RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	netlab.Cleanup(cfg.Prefix)
	lab, err := netlab.New(cfg)
	if err != nil {
		t.Fatalf("netlab.New(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
		for _, ns := range []string{lab.RecvNS, lab.SendNS} {
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("namespace %s left behind (%v)", ns, err)
			}
		}
	})
	return lab
}

// StartInRecv calls start in lab's receiving namespace, where a server
// under test opens its interface, and fails t if it fails; when the test
// ends it calls stop with what start returned and reports stop's error.
// Call it after NewLab, so that the server stops before the lab goes.
func StartInRecv[T any](t testing.TB, lab *netlab.Lab, start func() (T, error), stop func(T) error) T {
	t.Helper()
	var srv T
	if err := lab.InRecv(func() (err error) {
		srv, err = start()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(srv); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return srv
}

// SharedDir returns a new directory under the system's temporary
// directory that every user may enter (mode 0755), removed when the test
// ends: for the control sockets and binaries that children running as
// other uids must reach (t.TempDir is mode 0700).
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "xdpmux-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ExecutableIn copies the running test binary into dir as name (mode
// 0755), so that a child running as another uid can run it, and returns
// its path. The go command's build directory, where the binary lives, is
// not readable by other users.
func ExecutableIn(t testing.TB, dir, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, name)
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}
