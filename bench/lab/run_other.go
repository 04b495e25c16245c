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

// MeasureLocality needs Linux: it returns ErrNotSupported.
func MeasureLocality(ctx context.Context, lc LocalityConfig) (*LocalityReport, error) {
	return nil, fmt.Errorf("lab: locality experiments need linux: %w", ErrNotSupported)
}
