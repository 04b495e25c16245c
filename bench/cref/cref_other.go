//go:build !linux

package cref

import "fmt"

// Build needs Linux.
func Build(dir string) (string, error) { return "", fmt.Errorf("%w: not Linux", ErrNoLibxdp) }

// Proc is a running reference receiver (Linux only).
type Proc struct{}

// Start needs Linux.
func Start(bin, netns, ifname string, queues, frames int) (*Proc, error) {
	return nil, fmt.Errorf("%w: not Linux", ErrNoLibxdp)
}

// Counters needs Linux.
func (p *Proc) Counters() (Counters, error) {
	return Counters{}, fmt.Errorf("%w: not Linux", ErrNoLibxdp)
}

// Close needs Linux.
func (p *Proc) Close() error { return nil }
