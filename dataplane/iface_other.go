//go:build !linux

package dataplane

import (
	"fmt"
	"time"

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

// InterfaceHandover describes an Interface handed to another process; on
// this platform there is none to hand over.
type InterfaceHandover struct {
	Info InterfaceInfo `json:"info"`
}

// NumFDs is 0 on this platform.
func (h *InterfaceHandover) NumFDs() int { return 0 }

// Handover fails with ErrNotSupported.
func (i *Interface) Handover(drain time.Duration) (InterfaceHandover, []int, int, error) {
	return InterfaceHandover{}, nil, 0, ErrNotSupported
}

// ResumeServing fails with ErrNotSupported.
func (i *Interface) ResumeServing() error { return ErrNotSupported }

// Abandon does nothing.
func (i *Interface) Abandon() error { return nil }

// AdoptInterface fails with ErrNotSupported on this platform.
func AdoptInterface(cfg InterfaceConfig, h InterfaceHandover, fds []int) (*Interface, error) {
	return nil, fmt.Errorf("interface %s: %w: AF_XDP needs Linux", cfg.Ifname, ErrNotSupported)
}

// StartAdopted fails with ErrNotSupported.
func (i *Interface) StartAdopted() error { return ErrNotSupported }

// SweepClaims fails with ErrNotSupported.
func (i *Interface) SweepClaims() error { return ErrNotSupported }
