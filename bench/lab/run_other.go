//go:build !linux

package lab

import (
	"context"
	"fmt"
)

// Measure needs Linux: it returns ErrNotSupported.
func Measure(ctx context.Context, cfg Config) (*Report, error) {
	return nil, fmt.Errorf("lab: benchmark harness needs linux: %w", ErrNotSupported)
}
