package ctl

import (
	"syscall"

	"github.com/xdpmux/xdpmux/dataplane/ctl/internal/peercred"
)

// PeerUID returns the uid of the process at the other end of a connected
// unix socket, as the kernel recorded it at connect time (SO_PEERCRED): the
// one way xdpmux learns who is asking, for the control socket and for
// `run -takeover`'s hand-over socket.
func PeerUID(c syscall.Conn) (uint32, error) {
	cred, err := peercred.Of(c)
	if err != nil {
		return 0, err
	}
	return cred.UID, nil
}
