//go:build !(linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64))

package xdpprog

import (
	"fmt"
	"net/netip"
)

// Program is the xdpmux XDP program; on this platform it cannot be loaded.
type Program struct{}

// Attach fails with ErrNotSupported on this platform.
func Attach(ifindex int, opts Options) (*Program, error) {
	return nil, fmt.Errorf("attach xdp to ifindex %d: %w", ifindex, ErrNotSupported)
}

// Mode reports how the program is attached.
func (p *Program) Mode() Mode { return ModeGeneric }

// Ifindex is the interface the program is attached to.
func (p *Program) Ifindex() int { return 0 }

// Register fails with ErrNotSupported.
func (p *Program) Register(queue int, xskFD int) error { return ErrNotSupported }

// Unregister fails with ErrNotSupported.
func (p *Program) Unregister(queue int) error { return ErrNotSupported }

// Claim fails with ErrNotSupported.
func (p *Program) Claim(proto uint8, addr netip.Addr, port uint16) error { return ErrNotSupported }

// Unclaim fails with ErrNotSupported.
func (p *Program) Unclaim(proto uint8, addr netip.Addr, port uint16) error { return ErrNotSupported }

// Verdict fails with ErrNotSupported.
func (p *Program) Verdict(frame []byte) (redirect bool, err error) { return false, ErrNotSupported }

// SetDropClaimed fails with ErrNotSupported.
func (p *Program) SetDropClaimed(on bool) error { return ErrNotSupported }

// Counters fails with ErrNotSupported.
func (p *Program) Counters() ([]QueueCounters, error) { return nil, ErrNotSupported }

// NICHash reports false.
func (p *Program) NICHash() bool { return false }

// NICHashNote says why there is no NIC hash.
func (p *Program) NICHashNote() string { return "no XDP on this platform" }

// Close does nothing.
func (p *Program) Close() error { return nil }

// Attached fails with ErrNotSupported.
func Attached(ifindex int) (bool, error) { return false, ErrNotSupported }

// HaveXDPLink fails with ErrNotSupported.
func HaveXDPLink() error { return ErrNotSupported }
