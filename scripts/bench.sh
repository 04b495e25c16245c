#!/usr/bin/env bash
# End-to-end benchmarks (bench/lab, bench/latency, docs/BENCHMARKS.md). Needs root.
#
#   scripts/bench.sh [FLAGS...]         full run: the latency benchmark (scripts/latency.sh:
#                                       bench/results/latency-<date>.json, latency-latest.*), then
#                                       the throughput benchmark (bench/results/<date>.json,
#                                       latest.json, latest.png), then the comparison table.
#   scripts/bench.sh -no-latency ...    the same without the latency benchmark (the table takes
#                                       p50/p99 from an earlier bench/results/latency-latest.json).
#   scripts/bench.sh -quick [FLAGS...]  throughput smoke run (CI): under 2 minutes, writes to a
#                                       temp dir (or $XDPMUX_BENCH_OUT), checks the JSON is well
#                                       formed. Needs only Go, iproute2, cc with libxdp-dev and
#                                       libbpf-dev (else the C reference row is skipped, with a
#                                       note) and the kernel: the generator is bench/txgen. It
#                                       never checks speed. The latency smoke is scripts/latency.sh -quick.
# A full run needs trafgen (apt-get install netsniff-ng) unless FLAGS choose -gen.
# Extra FLAGS go to xdpmux-bench (see `go run ./bench/cmd/xdpmux-bench -h`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

quick=0
latency=1
args=()
for a in "$@"; do
	case "$a" in
	-quick | --quick) quick=1 ;;
	-no-latency | --no-latency) latency=0 ;;
	*) args+=("$a") ;;
	esac
done

need_root bench.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/xdpmux-bench" ./bench/cmd/xdpmux-bench

if [ "$quick" = 1 ]; then
	out=${XDPMUX_BENCH_OUT:-$tmp/quick.json}
	# ${args[@]+...}: bash < 4.4 treats an empty array as unset under -u.
	timeout 110 "$tmp/xdpmux-bench" -quick -gen txgen -o "$out" -plot "${out%.json}.png" ${args[@]+"${args[@]}"}
	"$tmp/xdpmux-bench" -check "$out"
	exit 0
fi

# The saturation runs need a generator outside this process: bench/txgen
# runs in xdpmux-bench and shares its Go scheduler with the xdpmux systems
# (not with the C reference), whose workers then wait for a P behind its
# senders. -gen txgen still chooses it.
case " ${args[*]-} " in
*" -gen "* | *" -gen="*) ;;
*) need_tool bench.sh trafgen netsniff-ng ;;
esac
if [ "$latency" = 1 ]; then
	scripts/latency.sh
fi
"$tmp/xdpmux-bench" -no-table ${args[@]+"${args[@]}"}
"$tmp/xdpmux-bench" -check bench/results/latest.json
"$tmp/xdpmux-bench" -table bench/results/latest.json
