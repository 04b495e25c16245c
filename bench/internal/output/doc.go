// Package output writes a benchmark's report the way both benchmark
// commands do: the JSON to one file (-o), or to a dated file and
// PREFIXlatest.json in a results directory, and the plot beside it;
// Flags are the -dir, -o and -plot flags that say where.
package output
