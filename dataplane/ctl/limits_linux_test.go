package ctl_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
)

// TestHelperFlood is the child of the limit tests: with
// XDPMUX_CTL_FLOOD=PATH|MODE|N it
//   - MODE conns: opens N connections to PATH and prints
//     "held H limit L other O": how many stayed open for 3 s, how
//     many the server refused with CodeLimit, how many ended otherwise;
//   - MODE stats: makes N Stats requests one after the other and prints
//     "ok K code C": how many were answered before the first error, and
//     that error's code (0: none, -1: not a server error);
//
// then waits for stdin to close.
func TestHelperFlood(t *testing.T) {
	arg := os.Getenv("XDPMUX_CTL_FLOOD")
	if arg == "" {
		return
	}
	parts := strings.Split(arg, "|")
	path, mode := parts[0], parts[1]
	n, _ := strconv.Atoi(parts[2])
	var conns []net.Conn
	switch mode {
	case "conns":
		var (
			mu                  sync.Mutex
			held, limit, others int
			wg                  sync.WaitGroup
		)
		for range n {
			c, err := net.Dial("unixpacket", path)
			if err != nil {
				others++
				continue
			}
			conns = append(conns, c)
			wg.Go(func() {
				c.SetReadDeadline(time.Now().Add(3 * time.Second)) // room for a loaded server to refuse
				buf := make([]byte, 4096)
				k, err := c.Read(buf)
				mu.Lock()
				defer mu.Unlock()
				var ne net.Error
				switch {
				case errors.As(err, &ne) && ne.Timeout():
					held++
				case err == nil && k >= 5 && string(buf[:4]) == "XM\x01\x84" && buf[4] == ctl.CodeLimit:
					limit++
				default:
					others++
				}
			})
		}
		wg.Wait()
		fmt.Printf("held %d limit %d other %d\n", held, limit, others)
	case "stats":
		ok, code := 0, 0
		for range n {
			if _, err := ctl.Stats(path); err != nil {
				code = -1
				var re *ctl.RemoteError
				if errors.As(err, &re) {
					code = int(re.Code)
				}
				break
			}
			ok++
		}
		fmt.Printf("ok %d code %d\n", ok, code)
	}
	io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(conns) // held open until now
	os.Exit(0)
}

// startFlood runs TestHelperFlood as cred and returns its line.
func startFlood(t *testing.T, exe, path, mode string, n int, cred *syscall.Credential) (line string, stop func()) {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestHelperFlood$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("XDPMUX_CTL_FLOOD=%s|%s|%d", path, mode, n))
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
	stop = func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}
	t.Cleanup(stop)
	lines := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		lines <- strings.TrimSpace(s)
		io.Copy(io.Discard, out)
	}()
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatal("flood child said nothing")
	}
	return line, stop
}

var (
	nobody = &syscall.Credential{Uid: 65534, Gid: 65534}
	user   = &syscall.Credential{Uid: 1000, Gid: 1000}
)

// TestConnectionFlood: uid 65534 opens connections as fast as it can; it
// gets no more than its cap, while root's stats and (within the global
// cap) another user's bind still work.
func TestConnectionFlood(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_SETUID, CAP_SETGID: runs children as uids 65534 and 1000")
	for _, tc := range []struct {
		name          string
		perUID, conns int
		flood         int
		wantHeld      int
		wantUserBind  string // what uid 1000's bind gets during the flood
	}{
		{"per uid", 64, 1000, 300, 64, "bound "},
		{"all non-root", 1000, 40, 300, 40, fmt.Sprintf("error %d ", ctl.CodeLimit)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, exe := exeForOthers(t)
			e := newEnvAt(t, 1, filepath.Join(dir, "run", "xdpmux.sock"), func(s *ctl.Server) {
				s.Limits.ConnsPerUID = tc.perUID
				s.Limits.Conns = tc.conns
			})
			line, stop := startFlood(t, exe, e.path, "conns", tc.flood, nobody)
			want := fmt.Sprintf("held %d limit %d other 0", tc.wantHeld, tc.flood-tc.wantHeld)
			if line != want {
				t.Errorf("flood by uid 65534: %q, want %q", line, want)
			}
			// The flood's connections are still open. Root is not capped:
			start := time.Now()
			if _, err := ctl.Stats(e.path); err != nil {
				t.Errorf("root's stats during the flood: %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("root's stats took %v during the flood, want < 2s", d)
			}
			c := startChild(t, exe, e.path, "udp/0.0.0.0:6000", false, user)
			if !strings.HasPrefix(c.line, tc.wantUserBind) {
				t.Errorf("uid 1000 binding during the flood: %q, want %q...", c.line, tc.wantUserBind)
			}
			c.cmd.Process.Kill()
			c.cmd.Wait()
			// Once the flood ends, its uid may connect again.
			stop()
			waitFor(t, "the flood's connections gone", func() bool {
				line, stop := startFlood(t, exe, e.path, "stats", 1, nobody)
				stop()
				return line == "ok 1 code 0"
			})
		})
	}
}

// TestStatsRateLimit: Stats requests are rate-limited per uid, across
// connections; root is exempt.
func TestStatsRateLimit(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_SETUID, CAP_SETGID: runs children as uids 65534 and 1000")
	dir, exe := exeForOthers(t)
	e := newEnvAt(t, 1, filepath.Join(dir, "run", "xdpmux.sock"), func(s *ctl.Server) {
		s.Limits.StatsBurst = 5
		s.Limits.StatsPerSecond = 0.01 // no refill within the test
	})
	limited := fmt.Sprintf("code %d", ctl.CodeLimit)
	for _, tc := range []struct {
		who  string
		cred *syscall.Credential
		want string
	}{
		{"uid 65534", nobody, "ok 5 " + limited},
		{"uid 65534 again, on new connections", nobody, "ok 0 " + limited},
		{"uid 1000, its own bucket", user, "ok 5 " + limited},
		{"root", nil, "ok 30 code 0"},
	} {
		line, stop := startFlood(t, exe, e.path, "stats", 30, tc.cred)
		stop()
		if line != tc.want {
			t.Errorf("%s: %q, want %q", tc.who, line, tc.want)
		}
	}
}

// TestPortAndEndpointLimits: one uid's endpoints and distinct ports are
// capped; a reuseport group's members share one port; closing frees them.
func TestPortAndEndpointLimits(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_SETUID, CAP_SETGID: runs children as uid 65534")
	dir, exe := exeForOthers(t)
	e := newEnvAt(t, 1, filepath.Join(dir, "run", "xdpmux.sock"), func(s *ctl.Server) {
		s.Limits.PortsPerUID = 2
		s.Limits.EndpointsPerUID = 3
	})
	bound, limit := "bound ", fmt.Sprintf("error %d ", ctl.CodeLimit)
	var kids []*child
	for _, tc := range []struct {
		spec  string
		reuse bool
		want  string
	}{
		{"udp/0.0.0.0:6000", true, bound},
		{"tcp/0.0.0.0:6000", false, bound}, // another protocol: another pair
		{"udp/0.0.0.0:6001", false, limit + ctl.ErrLimit.Error() + ": ports_per_uid"},
		{"udp/0.0.0.0:6000", true, bound}, // joins its group: no new port
		{"udp/0.0.0.0:6000", true, limit + ctl.ErrLimit.Error() + ": endpoints_per_uid"},
	} {
		c := startChild(t, exe, e.path, tc.spec, tc.reuse, nobody)
		if !strings.HasPrefix(c.line, tc.want) && !strings.Contains(c.line, strings.TrimPrefix(tc.want, limit)) {
			t.Errorf("nobody binding %s: %q, want %q...", tc.spec, c.line, tc.want)
		}
		kids = append(kids, c)
	}
	// Root is not capped.
	listen(t, e.path, "udp/0.0.0.0:6001", ctl.Options{})
	listen(t, e.path, "udp/0.0.0.0:6002", ctl.Options{})
	// Closing the TCP endpoint frees a port for uid 65534.
	kids[1].cmd.Process.Kill()
	kids[1].cmd.Wait()
	waitFor(t, "the tcp endpoint closed", func() bool { return len(e.dp.Stats().Endpoints) == 4 })
	if c := startChild(t, exe, e.path, "udp/0.0.0.0:6003", false, nobody); !strings.HasPrefix(c.line, bound) {
		t.Errorf("nobody binding a freed port: %q", c.line)
	}
}
