//go:build linux

package peercred

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// soPeerPIDFD is SO_PEERPIDFD (Linux 6.5+).
const soPeerPIDFD = unix.SO_PEERPIDFD

// Of returns the credentials of c's peer. The kernel records them at
// connect(2), so they cannot be forged by the client afterwards.
func Of(c syscall.Conn) (Cred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var (
		uc       *unix.Ucred
		opErr    error
		pidfd    = -1
		pidfdErr error
	)
	if err := rc.Control(func(fd uintptr) {
		uc, opErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if opErr == nil && uc.Uid != 0 {
			pidfd, pidfdErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, soPeerPIDFD)
		}
	}); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	if opErr != nil {
		return Cred{}, os.NewSyscallError("getsockopt SO_PEERCRED", opErr)
	}
	cr := Cred{PID: uc.Pid, UID: uc.Uid, GID: uc.Gid}
	if cr.UID == 0 {
		cr.CapNetBindService = true
		return cr, nil
	}
	if pidfdErr != nil || pidfd < 0 {
		// ENOPROTOOPT before Linux 6.5: trust only uid 0.
		return cr, nil
	}
	defer unix.Close(pidfd)
	cr.PIDFD = true
	cr.CapNetBindService = hasCap(int(cr.PID), pidfd, capNetBindService)
	return cr, nil
}

// hasCap reports whether the process pid, which pidfd names, holds
// capability bit in its effective set, in this process's user namespace.
// It reads /proc first and checks the pidfd after: if the process is gone
// by then, the pid may name another process and the answer is false.
func hasCap(pid, pidfd int, bit uint) bool {
	if pid <= 0 {
		return false
	}
	dir := "/proc/" + strconv.Itoa(pid)
	self, err1 := os.Stat("/proc/self/ns/user")
	peer, err2 := os.Stat(dir + "/ns/user")
	if err1 != nil || err2 != nil || !os.SameFile(self, peer) {
		return false // another user namespace, or unknown: its caps are not ours
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return false
	}
	eff, err := capEff(status)
	if err != nil || eff&(1<<bit) == 0 {
		return false
	}
	// Still the process that connected?
	return alive(pidfd)
}

// alive reports whether pidfd names a live (or not yet reaped) process.
func alive(pidfd int) bool {
	return unix.PidfdSendSignal(pidfd, 0, nil, 0) == nil
}
