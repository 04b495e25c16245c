package ctl_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
	"github.com/xdpmux/xdpmux/pcb"
)

// TestHelperProcess is the child of the process tests: with
// XDPMUX_CTL_CHILD=PATH|SPEC|REUSE it binds SPEC on the control socket at
// PATH, prints "bound NAME" or "error CODE MESSAGE", and (bound) waits for
// stdin to close or to be killed.
func TestHelperProcess(t *testing.T) {
	arg := os.Getenv("XDPMUX_CTL_CHILD")
	if arg == "" {
		return
	}
	parts := strings.Split(arg, "|")
	ep, err := ctl.Listen(parts[0], parts[1], ctl.Options{ReusePort: parts[2] == "1"})
	if err != nil {
		code := 0
		var re *ctl.RemoteError
		if errors.As(err, &re) {
			code = int(re.Code)
		}
		fmt.Printf("error %d %v\n", code, err)
		os.Exit(0)
	}
	fmt.Printf("bound %s\n", ep.Name())
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// child starts the test binary (exe) as a control client.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	line  string
}

func startChild(t *testing.T, exe, path, spec string, reuse bool, cred *syscall.Credential) *child {
	t.Helper()
	r := "0"
	if reuse {
		r = "1"
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "XDPMUX_CTL_CHILD="+path+"|"+spec+"|"+r)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		lines <- strings.TrimSpace(s)
		io.Copy(io.Discard, out)
	}()
	select {
	case c.line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatal("child said nothing")
	}
	return c
}

func TestChildDeathClosesEndpoint(t *testing.T) {
	e := newEnv(t, 1, nil)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, exe, e.path, "udp/0.0.0.0:5353", true, nil)
	if !strings.HasPrefix(c.line, "bound ") {
		t.Fatalf("child: %q, want bound", c.line)
	}
	if n := len(e.dp.Stats().Endpoints); n != 1 {
		t.Fatalf("%d endpoints, want 1", n)
	}
	// Same uid: this process may join the child's group.
	listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{ReusePort: true})
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	waitFor(t, "the dead child's endpoint closed", func() bool { return len(e.dp.Stats().Endpoints) == 1 })
	snap, err := ctl.Stats(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(c.line, "bound "); snap.Endpoints[0].Name == want {
		t.Errorf("the dead child's endpoint %s is still listed", want)
	}
}

// exeForOthers copies the test binary into a new directory every user can
// reach, for children of other uids; the control socket goes there too.
func exeForOthers(t *testing.T) (dir, exe string) {
	t.Helper()
	dir = labtest.SharedDir(t)
	return dir, labtest.ExecutableIn(t, dir, "ctl.test")
}

// TestOtherUserCannotJoin runs the real SO_PEERCRED path: a child running
// as nobody (uid 65534) may bind a port of its own, but not join root's
// group, nor bind over it.
func TestOtherUserCannotJoin(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_SETUID, CAP_SETGID: runs a child as another user")
	dir, exe := exeForOthers(t)
	e := newEnvAt(t, 1, filepath.Join(dir, "run", "xdpmux.sock"), nil)
	listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{ReusePort: true})
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}

	for _, tc := range []struct {
		spec  string
		reuse bool
		want  string
	}{
		{"udp/0.0.0.0:5353", true, fmt.Sprintf("error %d ", ctl.CodeAddrInUse)},
		{"udp/198.18.0.2:5353", true, fmt.Sprintf("error %d ", ctl.CodeAddrInUse)},
		{"udp/0.0.0.0:5353", false, fmt.Sprintf("error %d ", ctl.CodeAddrInUse)},
		{"udp/0.0.0.0:6000", true, "bound "},
	} {
		c := startChild(t, exe, e.path, tc.spec, tc.reuse, nobody)
		if !strings.HasPrefix(c.line, tc.want) {
			t.Errorf("nobody binding %s (reuseport %v): %q, want %q...", tc.spec, tc.reuse, c.line, tc.want)
		}
		t.Logf("nobody binding %s: %s", tc.spec, c.line)
	}
	snap, err := ctl.Stats(e.path)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ci := range snap.Clients {
		if ci.UID == 65534 && strings.HasPrefix(ci.Endpoint, "udp/0.0.0.0:6000") {
			found = true
		}
	}
	if !found {
		t.Errorf("clients %+v: want nobody's endpoint on port 6000", snap.Clients)
	}
	// And root may not join nobody's group either.
	if _, err := ctl.Listen(e.path, "udp/0.0.0.0:6000", ctl.Options{ReusePort: true}); !errors.Is(err, pcb.ErrAddrInUse) {
		t.Errorf("root joining nobody's group: %v, want ErrAddrInUse", err)
	}
}
