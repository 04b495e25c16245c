//go:build linux

package dataplane

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

const selfCredChildEnv = "XDPMUX_TEST_SELFCRED_CHILD"

// TestSelfCredRealUID binds with a nil Cred (the process itself) from this
// test binary run as real users: uid 65534 is refused port 53 and allowed
// 5353; with CAP_NET_BIND_SERVICE (ambient, through setpriv) it gets 53;
// root gets anything.
func TestSelfCredRealUID(t *testing.T) {
	if os.Getenv(selfCredChildEnv) == "1" {
		selfCredChild(t)
		return
	}
	if c := selfCred(); os.Geteuid() == 0 && c.UID != 0 {
		t.Errorf("selfCred as root: %+v", c)
	}
	labtest.RequirePrivileged(t, "root, to run children as uid 65534")
	bin := labtest.ExecutableIn(t, labtest.SharedDir(t), "dataplane.test")
	tests := []struct {
		name string
		cmd  *exec.Cmd
		want string
	}{
		{"uid 65534", exec.Command(bin), "uid=65534 cap=false 53=EACCES 5353=ok"},
		{"uid 65534 with CAP_NET_BIND_SERVICE", exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps", "+net_bind_service", "--ambient-caps", "+net_bind_service", bin), "uid=65534 cap=true 53=ok 5353=ok"},
		{"root", exec.Command(bin), "uid=0 cap=true 53=ok 5353=ok"},
	}
	tests[0].cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cmd.Err != nil {
				t.Skipf("%v", tt.cmd.Err) // setpriv missing
			}
			tt.cmd.Args = append(tt.cmd.Args, "-test.run=^TestSelfCredRealUID$", "-test.count=1")
			tt.cmd.Env = append(os.Environ(), selfCredChildEnv+"=1")
			tt.cmd.Dir = filepath.Dir(bin)
			out, err := tt.cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			var got string
			for _, line := range strings.Split(string(out), "\n") {
				if r, ok := strings.CutPrefix(line, "SELFCRED "); ok {
					got = r
				}
			}
			if got != tt.want {
				t.Errorf("child says %q, want %q\n%s", got, tt.want, out)
			}
		})
	}
}

func selfCredChild(t *testing.T) {
	c := selfCred()
	l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{Access: AccessPolicy{UnprivilegedPortStart: DefaultUnprivilegedPortStart}})
	res := fmt.Sprintf("uid=%d cap=%v", c.UID, c.CapNetBindService)
	for _, s := range []string{"0.0.0.0:53", "0.0.0.0:5353"} {
		spec := udpSpec(s, false)
		_, err := l.d.Bind(spec, EndpointOptions{})
		switch {
		case err == nil:
			res += fmt.Sprintf(" %d=ok", spec.Local.Port())
		case errors.Is(err, syscall.EACCES) && errors.Is(err, ErrPermission):
			res += fmt.Sprintf(" %d=EACCES", spec.Local.Port())
		default:
			res += fmt.Sprintf(" %d=%v", spec.Local.Port(), err)
		}
	}
	fmt.Println("SELFCRED " + res)
}
