// Package sys holds the few system calls the benchmark harnesses
// (bench/lab, bench/latency) make outside the project's packages:
// SO_REUSEPORT, SO_RCVBUF and SO_BUSY_POLL on the kernel UDP sockets they
// compare xdpmux against, net.core.rmem_max, and the process's CPU time.
// (The generator's AF_PACKET socket is dataplane/pktsock, shared with
// netstackep.)
package sys
