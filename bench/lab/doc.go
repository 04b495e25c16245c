// Package lab is xdpmux's end-to-end receive benchmark: it measures, under
// the same offered load, how many UDP packets per second each receive path
// gets to user space, what it drops and where, how fairly a SO_REUSEPORT
// group shares the load and how much machine CPU each delivered packet
// costs. The paths compared, from the cheapest to the one xdpmux replaces:
//
//   - "xdp-drop": the XDP program drops every claimed frame (the ceiling:
//     no AF_XDP, no user space);
//   - "afxdp-c": the C AF_XDP reference (bench/cref: libxdp's xsk API, one
//     thread per queue, rx → fill), built with cc at bench time;
//   - "afxdp-rxdrop": the same in Go, one rxq.Socket per queue recycled by
//     a goroutine per queue (no parse, no lookup);
//   - "xdpmux": dataplane.OpenInterface with a reuseport UDP group of N
//     endpoints, each read by its own goroutine that touches every payload
//     byte before releasing the frame;
//   - "kernel-reuseport": the tuned kernel, N UDP sockets with SO_REUSEPORT
//     and SO_RCVBUF at net.core.rmem_max, each read with recvmmsg by its
//     own goroutine, touching every payload byte; with two extra rows,
//     "kernel-busypoll" (SO_BUSY_POLL) and "kernel-reuseport-untuned" (the
//     default SO_RCVBUF).
//
// At a fixed offered rate it derives each system's receive-side CPU per
// packet: the machine's busy time above that of xdp-drop at the same rate.
// WriteComparison prints the table scripts/bench.sh ends with.
//
// It also measures flow disruption: the share of flows that change member
// when one member of a group leaves, per xdpmux pick policy and for the
// kernel.
//
// Everything runs in a throwaway bench/netlab veth lab (two namespaces, two
// queues); the generator (trafgen or bench/txgen) runs in the sending
// namespace. On veth the receive-side kernel work runs on the sender's CPU,
// so the figures measure the whole machine: compare them only within one
// run.
//
// The pure parts (Jain's index, /proc/stat and /proc/net/snmp parsing, the
// report's JSON shape and its check, the disruption share, the plot) work
// everywhere; Measure needs Linux and root.
package lab
