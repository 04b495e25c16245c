// Package sys holds the system calls of the bench tools outside the
// project's packages, and their every use of unsafe: for the harness
// (bench/lab), SO_REUSEPORT and SO_RCVBUF on the kernel UDP sockets it
// compares xdpmux against and the process's CPU time; for the generator
// (bench/txgen), the send-only AF_PACKET socket and sendmmsg.
package sys
