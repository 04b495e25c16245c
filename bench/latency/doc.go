// Package latency is xdpmux's latency benchmark: UDP request/response
// round-trip times, from kernel UDP clients in one namespace of a
// bench/netlab veth lab to an echo server in the other, for
//
//   - "xdpmux-endpoint": dataplane.OpenInterface and a reuseport group
//     answering through Receive and Reply (the reply built in the
//     request's own UMEM frame);
//   - "xdpmux-packetconn": the same through Endpoint.PacketConn (ReadFrom,
//     WriteTo: a copy each way);
//   - "kernel-reuseport": the tuned kernel (SO_REUSEPORT, SO_RCVBUF at
//     net.core.rmem_max, recvmmsg and sendmmsg).
//
// Each is measured with 64-byte and 100-byte (DNS-sized) payloads, at
// max (closed loop, a fixed number of requests in flight per client) and
// open loop at fixed rates: 10k and 100k pps and 90% of the lowest max
// any system reached, the same rate for every system. A run reports
// sent, received and lost requests and p50/p99/p99.9/max round trips from
// a log-linear histogram (Hist). The clients are the same for every
// system, so their cost cancels out of the comparison; on veth the whole
// exchange shares the machine's CPUs, so compare figures within one run
// only.
//
// The kernel server's sockets and xdpmux's interface never exist at the
// same time: the XDP program passes a flow a kernel socket owns to the
// kernel, so each xdpmux phase checks the port is free first.
//
// Hist, the report's JSON shape and its check work everywhere; Measure
// needs Linux and root.
package latency
