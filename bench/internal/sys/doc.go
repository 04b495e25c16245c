// Package sys holds the few system calls the benchmark harness (bench/lab)
// makes outside the project's packages: SO_REUSEPORT and SO_RCVBUF on the
// kernel UDP sockets it compares xdpmux against, and the process's CPU
// time. (The generator's AF_PACKET socket is dataplane/pktsock, shared
// with netstackep.)
package sys
