//go:build !linux

package netlab

import "fmt"

// New fails with ErrNotSupported on this platform.
func New(cfg Config) (*Lab, error) {
	return nil, fmt.Errorf("netlab: %w", ErrNotSupported)
}

// Close does nothing.
func (l *Lab) Close() error { return nil }

// InRecv fails with ErrNotSupported.
func (l *Lab) InRecv(fn func() error) error { return ErrNotSupported }

// InSend fails with ErrNotSupported.
func (l *Lab) InSend(fn func() error) error { return ErrNotSupported }

// Cleanup does nothing.
func Cleanup(prefix string) {}

// NewNamespace fails with ErrNotSupported.
func NewNamespace(name string) error { return ErrNotSupported }

// DeleteNamespace fails with ErrNotSupported.
func DeleteNamespace(name string) error { return ErrNotSupported }

// InNamespace fails with ErrNotSupported.
func InNamespace(name string, fn func() error) error { return ErrNotSupported }
