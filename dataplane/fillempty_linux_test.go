package dataplane

import "github.com/xdpmux/xdpmux/rxq"

// The AF_XDP socket reports its fill-ring-empty drops, so QueueStats'
// FillEmpty is the kernel's rx_fill_ring_empty_descs.
var _ fillEmptier = (*rxq.Socket)(nil)
