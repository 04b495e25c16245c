package peercred

import (
	"bytes"
	"fmt"
	"strconv"
)

// Cred is what the kernel recorded of the peer when it connected.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
	// CapNetBindService: the peer may bind ports below 1024. True for
	// uid 0; for another uid, only if the peer held CAP_NET_BIND_SERVICE
	// in this process's user namespace, checked through its pidfd (see
	// the package documentation).
	CapNetBindService bool
	// PIDFD reports whether the kernel gave a pidfd of the peer
	// (SO_PEERPIDFD). Without one a non-root peer is never trusted with
	// a capability.
	PIDFD bool
}

// Privileged reports whether the peer is root (uid 0).
func (c Cred) Privileged() bool { return c.UID == 0 }

// capNetBindService is CAP_NET_BIND_SERVICE's bit number.
const capNetBindService = 10

// capEff returns the CapEff mask from the text of /proc/PID/status.
func capEff(status []byte) (uint64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("CapEff:"))
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(string(bytes.TrimSpace(rest)), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("CapEff %q: %w", bytes.TrimSpace(rest), err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("no CapEff line")
}
