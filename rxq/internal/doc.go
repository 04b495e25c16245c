// Package internal holds every system call and every use of unsafe that the
// rxq package needs: the AF_XDP socket options that take C structs (which
// golang.org/x/sys/unix has no typed wrappers for), the mmap of the UMEM and
// of the rings, typed views into mapped memory, and the Poller that parks a
// waiting worker on the Go netpoller.
//
// Nothing here knows about rings or frames; rxq builds those on top.
package internal
