#!/usr/bin/env bash
# End-to-end receive benchmark (bench/lab, docs/BENCHMARKS.md). Needs root.
#
#   scripts/bench.sh [FLAGS...]         full run: bench/results/<date>.json, latest.json, latest.png
#   scripts/bench.sh -quick [FLAGS...]  smoke run (CI): under 2 minutes, writes to a temp dir
#                                       (or $XDPMUX_BENCH_OUT), checks the JSON is well formed.
#                                       Needs only Go, iproute2 and the kernel: the generator is
#                                       bench/txgen. It never checks speed.
# Extra FLAGS go to xdpmux-bench (see `go run ./bench/cmd/xdpmux-bench -h`).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
args=()
for a in "$@"; do
	case "$a" in
	-quick | --quick) quick=1 ;;
	*) args+=("$a") ;;
	esac
done

if [ "$(id -u)" != 0 ]; then
	echo "bench.sh: needs root (network namespaces, XDP, AF_XDP)" >&2
	exit 1
fi

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

"$tmp/xdpmux-bench" ${args[@]+"${args[@]}"}
"$tmp/xdpmux-bench" -check bench/results/latest.json
