//go:build linux

package peercred

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Cred is what the kernel recorded of the peer when it connected.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// Of returns the credentials of c's peer. The kernel records them at
// connect(2), so they cannot be forged by the client afterwards.
func Of(c syscall.Conn) (Cred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var (
		uc    *unix.Ucred
		opErr error
	)
	if err := rc.Control(func(fd uintptr) {
		uc, opErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	if opErr != nil {
		return Cred{}, os.NewSyscallError("getsockopt SO_PEERCRED", opErr)
	}
	return Cred{PID: uc.Pid, UID: uc.Uid, GID: uc.Gid}, nil
}
