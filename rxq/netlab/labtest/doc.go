// Package labtest holds the two helpers every privileged test of xdpmux
// starts with: RequirePrivileged, which decides whether a test that needs
// root may run, must be skipped, or must fail (XDPMUX_PRIVILEGED=1 turns
// a skip into a failure, so a CI run as root cannot silently test nothing),
// and NewLab, which builds a netlab lab (two namespaces joined by a veth
// pair, see package netlab) and deletes it when the test ends.
//
// It is imported only by tests. It imports netlab and nothing else of the
// project, so the in-package tests of rxq may use it; netlab's own
// in-package tests cannot (import cycle).
package labtest
