#!/usr/bin/env bash
# Latency benchmark (bench/latency, docs/BENCHMARKS.md): UDP echo round trips
# for xdpmux (Endpoint+Reply, PacketConn) and the tuned kernel. Needs root.
#
#   scripts/latency.sh [FLAGS...]         full run: bench/results/latency-<date>.json,
#                                         latency-latest.json, latency-latest.png, and a table
#   scripts/latency.sh -quick [FLAGS...]  smoke run (CI): under 30 s, writes to a temp dir (or
#                                         $XDPMUX_LATENCY_OUT), checks the JSON is well formed.
#                                         It never checks speed.
# Extra FLAGS go to xdpmux-latency (see `go run ./bench/cmd/xdpmux-latency -h`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

quick=0
args=()
for a in "$@"; do
	case "$a" in
	-quick | --quick) quick=1 ;;
	*) args+=("$a") ;;
	esac
done

need_root latency.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/xdpmux-latency" ./bench/cmd/xdpmux-latency

if [ "$quick" = 1 ]; then
	out=${XDPMUX_LATENCY_OUT:-$tmp/quick.json}
	timeout 60 "$tmp/xdpmux-latency" -quick -o "$out" -plot "${out%.json}.png" ${args[@]+"${args[@]}"}
	"$tmp/xdpmux-latency" -check "$out"
	exit 0
fi

"$tmp/xdpmux-latency" ${args[@]+"${args[@]}"}
"$tmp/xdpmux-latency" -check bench/results/latency-latest.json
