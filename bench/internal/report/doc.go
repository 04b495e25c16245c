// Package report holds what the reports of the two benchmarks (bench/lab,
// bench/latency) do alike, so that they read, print and draw the same way:
// decoding and checking a report's JSON (check.go), the aligned text
// tables (table.go) and the PNG plots, their lines and their layout
// (plot.go). The report types, their JSON shapes and what each plot shows
// stay in the benchmark's own package.
package report
