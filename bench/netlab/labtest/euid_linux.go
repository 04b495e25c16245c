//go:build linux

package labtest

import (
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// AsEUID runs fn on an OS thread of its own whose effective uid is uid
// (a real uid such as 65534, nobody), and returns fn's error. Dropping the
// effective uid from 0 clears the thread's effective capabilities, so what
// fn asks the kernel is asked without privilege; the real and saved uids
// stay 0, which lets the thread become root again afterwards. Only that
// thread changes: the raw setresuid(2) is per thread, unlike
// syscall.Setresuid, which Go applies to every thread of the process. fn
// runs on another goroutine: it must not call t.Fatal. AsEUID needs root.
func AsEUID(t testing.TB, uid int, fn func() error) error {
	t.Helper()
	RequirePrivileged(t, "CAP_SETUID")
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := setEUID(uid); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err := fn()
		if rerr := setEUID(0); rerr != nil {
			// Leave the thread locked: it dies with the goroutine.
			errc <- fmt.Errorf("%v; and %w", err, rerr)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

func setEUID(uid int) error {
	const keep = ^uintptr(0) // -1: leave the real and saved uids alone
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(uid), keep); e != 0 {
		return fmt.Errorf("setresuid(-1, %d, -1): %w", uid, e)
	}
	return nil
}
