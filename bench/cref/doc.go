// Package cref is the benchmark's C AF_XDP reference system: csrc/rxdrop.c, a
// receiver written against libxdp's xsk API (Debian's libxdp-dev and
// libbpf-dev), so that "raw AF_XDP" in bench/lab is not only the project's
// own Go code. One socket and one thread per queue, rx → fill, touching
// each frame, like the kernel's `xdpsock -r` but waiting in poll(2) when
// its rx ring is empty.
//
// Build compiles the embedded C source with the system's cc at bench time
// (cc -O2 rxdrop.c -lxdp -lbpf); without the headers it fails with
// ErrNoLibxdp, and the benchmark reports the row as skipped. Start runs
// the program in a network namespace and Counters reads its cumulative
// per-queue packet counts and XDP_STATISTICS over a line protocol on its
// stdin and stdout (see rxdrop.c).
//
// It is not part of the data path: nothing outside bench/ imports it.
package cref
