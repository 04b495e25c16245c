package xdpprog

// The generated files (xdpmux_bpfel.go, xdpmux_bpfel.o) are committed, so a
// plain `go build` needs no clang. scripts/check-generated.sh checks that
// `go generate ./rxq/xdpprog` reproduces them.

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -tags linux -target bpfel -type queue_counters -type claim_key -type config_value xdpmux bpf/xdpmux.c -- -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
