//go:build !linux

package lab

import "context"

// Measure needs Linux: it returns ErrNotSupported.
func Measure(ctx context.Context, cfg Config) (*Report, error) { return nil, ErrNotSupported }
