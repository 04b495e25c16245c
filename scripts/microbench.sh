#!/usr/bin/env bash
# Micro benchmarks of the per-packet path, benchstat-friendly:
#   rxq: Toeplitz hash, rings        dataplane/packet: parse
#   pcb: lookup                      localgroup: pick
#   dataplane: worker batch (classify + deliver, full round)
# Writes bench/results/micro-latest.txt (or $1). Compare two runs with
#   benchstat old.txt bench/results/micro-latest.txt
# Knobs: COUNT (default 6), BENCHTIME (default 200ms).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-bench/results/micro-latest.txt}
count=${COUNT:-6}
benchtime=${BENCHTIME:-200ms}
mkdir -p "$(dirname "$out")"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

failed=()
run() { # PKG REGEX; a package that fails to build or run is reported, the rest still run
	if ! go test -run '^$' -bench "$2" -benchmem -count "$count" -benchtime "$benchtime" "$1" | tee -a "$tmp"; then
		failed+=("$1")
	fi
}

{
	echo "# xdpmux micro benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# kernel $(uname -r), $(nproc) CPUs, $(go version | cut -d' ' -f3)"
	echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
} >"$tmp"
run ./rxq 'Benchmark(Hash|Ring)'
run ./dataplane/packet 'BenchmarkParse'
run ./pcb 'BenchmarkLookup'
run ./localgroup 'BenchmarkPick'
run ./dataplane 'BenchmarkWorkerBatch'
mv "$tmp" "$out"
trap - EXIT
echo "wrote $out"
if [ ${#failed[@]} -gt 0 ]; then
	echo "microbench.sh: failed: ${failed[*]}" >&2
	exit 1
fi
