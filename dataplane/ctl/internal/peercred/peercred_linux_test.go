package peercred

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestHelperPeer is the child of TestOf: with PEERCRED_CHILD=PATH it
// connects to PATH, sends one byte and waits for stdin to close; with
// PEERCRED_EXIT=1 it exits right after sending.
func TestHelperPeer(t *testing.T) {
	path := os.Getenv("PEERCRED_CHILD")
	if path == "" {
		return
	}
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		os.Exit(3)
	}
	c.Write([]byte{1})
	if os.Getenv("PEERCRED_EXIT") == "1" {
		os.Exit(0)
	}
	buf := make([]byte, 1)
	os.Stdin.Read(buf)
	os.Exit(0)
}

// TestOf connects real processes of real uids, with and without
// CAP_NET_BIND_SERVICE, and checks what Of learns of them.
func TestOf(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_SETUID, CAP_SETGID: runs children as uid 65534")
	for _, tool := range []string{"setpriv", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
	dir := labtest.SharedDir(t)
	exe := labtest.ExecutableIn(t, dir, "peercred.test")
	path := filepath.Join(dir, "s.sock")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	withCap := append(append([]string{}, nobody...), "--inh-caps", "+net_bind_service", "--ambient-caps", "+net_bind_service")
	for _, tc := range []struct {
		name    string
		argv    []string // before exe
		exit    bool     // the child is gone (and reaped) before Of
		uid     uint32
		wantCap bool // with a pidfd; without one only uid 0 has it
	}{
		{"root", nil, false, 0, true},
		{"nobody", nobody, false, 65534, false},
		{"nobody with CAP_NET_BIND_SERVICE", withCap, false, 65534, true},
		{"nobody with CAP_NET_BIND_SERVICE, gone", withCap, true, 65534, false},
		{"nobody as root of its own user namespace", append(append([]string{}, nobody...), "unshare", "--user", "--map-root-user"), false, 65534, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := append(append([]string{}, tc.argv...), exe, "-test.run=^TestHelperPeer$")
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "PEERCRED_CHILD="+path)
			if tc.exit {
				cmd.Env = append(cmd.Env, "PEERCRED_EXIT=1")
			}
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stdin.Close()
				cmd.Wait()
			}()
			l.SetDeadline(time.Now().Add(30 * time.Second))
			c, err := l.AcceptUnix()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err != nil {
				t.Fatalf("reading the child's byte: %v", err)
			}
			if tc.exit {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("child: %v", err)
				}
			}
			got, err := Of(c)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.wantCap && (got.PIDFD || tc.uid == 0)
			if got.UID != tc.uid || got.GID != tc.uid || got.CapNetBindService != want || got.PID <= 0 {
				t.Errorf("Of: %+v, want uid %d, gid %d, CapNetBindService %v", got, tc.uid, tc.uid, want)
			}
			if tc.uid != 0 && !got.PIDFD {
				t.Logf("no SO_PEERPIDFD on this kernel: only uid 0 is trusted")
			}
		})
	}
}
