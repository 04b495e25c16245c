//go:build !linux

package dataplane

import (
	"fmt"

	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// Interface is a Dataplane serving an interface's queues; on this platform
// it cannot be opened.
type Interface struct {
	*Dataplane
	Program *xdpprog.Program
}

// OpenInterface fails with ErrNotSupported on this platform.
func OpenInterface(cfg InterfaceConfig) (*Interface, error) {
	return nil, fmt.Errorf("interface %s: %w: AF_XDP needs Linux", cfg.Ifname, ErrNotSupported)
}

// Close does nothing.
func (i *Interface) Close() error { return nil }

// Info returns nothing useful on this platform.
func (i *Interface) Info() InterfaceInfo { return InterfaceInfo{} }

// XDPStats fails with ErrNotSupported.
func (i *Interface) XDPStats() ([]QueueXDPStats, error) { return nil, ErrNotSupported }
