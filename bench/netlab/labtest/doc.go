// Package labtest holds the helpers every privileged test of xdpmux
// starts with: RequirePrivileged, which decides whether a test that needs
// root may run, must be skipped, or must fail (XDPMUX_PRIVILEGED=1 turns
// a skip into a failure, so a CI run as root cannot silently test nothing),
// and NewLab, which builds a netlab lab (two namespaces joined by a veth
// pair, see package netlab) and deletes it when the test ends. Beside
// them, StartInRecv starts a server under test in a lab's receiving
// namespace and stops it when the test ends, SkipIfNotSupported skips a
// test the kernel lacks a feature for (rxq.ErrNotSupported; a failure
// under XDPMUX_PRIVILEGED=1), and AsEUID runs a function on one thread as
// another, real, uid, to test what happens without privilege.
//
// It is imported only by tests. It imports rxq (for the sentinel errors)
// and netlab, so tests of rxq that use it are external tests (package
// rxq_test); netlab's own in-package tests cannot use it (import cycle).
package labtest
