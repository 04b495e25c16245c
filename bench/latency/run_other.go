//go:build !linux

package latency

import (
	"context"
	"fmt"

	"github.com/xdpmux/xdpmux/rxq"
)

// Measure needs Linux.
func Measure(ctx context.Context, cfg Config) (*Report, error) {
	return nil, fmt.Errorf("latency: %w", rxq.ErrNotSupported)
}

// ServeChild does nothing: there is no server child off Linux.
func ServeChild() {}
