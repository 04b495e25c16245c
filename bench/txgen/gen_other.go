//go:build !linux

package txgen

import "fmt"

// New is not supported on this platform.
func New(cfg Config) (*Generator, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("traffic generator: %w on this platform", ErrNotSupported)
}
