//go:build !linux

// Package affinity pins the calling OS thread to a CPU. It holds the
// dataplane's only system call, so the rest of the package stays portable.
package affinity

import "errors"

// Pin is not supported on this platform.
func Pin(cpu int) error { return errors.New("cpu pinning not supported") }
