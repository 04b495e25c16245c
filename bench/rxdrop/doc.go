// Package rxdrop is the receive-side ceiling benchmark of xdpmux's data
// path. In one lab run (two namespaces, veth with two queues, trafgen
// flooding UDP from the sending side) it measures, alternately:
//
//   - XDP_DROP: the XDP program drops every claimed frame; its counters
//     give the packet rate the kernel side sustains with no AF_XDP at all;
//   - AF_XDP rxdrop: claimed frames are redirected to one rxq.Socket per
//     queue, a goroutine per socket receives each batch, reads the first
//     bytes of every frame and recycles it to the fill ring.
//
// The ratio rxdrop/XDP_DROP is the cost of getting frames to user space;
// XDP_STATISTICS shows whether rings ran full or the fill ring ran dry.
// Results go to bench/results/rxdrop-latest.json. Run it as root with
//
//	XDPMUX_BENCH=1 go test ./bench/rxdrop -run TestRxdrop -v
package rxdrop
