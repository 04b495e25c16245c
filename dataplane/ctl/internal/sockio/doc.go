// Package sockio sends on a connected socket without ever waiting: the
// control server's frame pump writes with it, so that a client that does
// not read cannot stall the goroutine draining its endpoint. With
// internal/peercred it is where package ctl makes system calls.
package sockio

import "syscall"

// ErrWouldBlock is returned by SendNoWait when the message does not fit in
// the socket's send buffer now. It is syscall.EAGAIN.
var ErrWouldBlock error = syscall.EAGAIN
