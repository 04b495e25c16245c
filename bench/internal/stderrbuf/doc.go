// Package stderrbuf collects the stderr of the child processes the
// benchmark harnesses start (bench/cref's C reference, bench/latency's
// server children), so that an error about a child can say what the
// child said.
package stderrbuf
