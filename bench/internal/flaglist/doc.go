// Package flaglist parses the comma-separated list flags of the benchmark
// commands (bench/cmd/xdpmux-bench, bench/cmd/xdpmux-latency): group
// sizes, rates and payloads, and the systems to skip. Both commands take
// the same forms, so a list written for one means the same to the other.
package flaglist
