//go:build !linux

package main

import (
	"fmt"

	"github.com/xdpmux/xdpmux/dataplane"
)

// gvisorLinks: gVisor's fdbased and xdp endpoints are Linux-only.
const gvisorLinks = false

type gvisorLink struct{}

func (*gvisorLink) close() error { return nil }

func (s *server) startGVisor(o options) error {
	return fmt.Errorf("-gvisor-link %s: %w", o.GVisorLink, dataplane.ErrNotSupported)
}
