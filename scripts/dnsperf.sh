#!/usr/bin/env bash
# dnsperf comparison (issue 14, docs/BENCHMARKS.md "dnsperf"): examples/dnsserver
# on xdpmux (2 members, 2 queues, veth lab) against the same server on tuned
# kernel SO_REUSEPORT sockets (SO_RCVBUF at net.core.rmem_max), dnsperf in the
# sending namespace, at 20k, 100k qps and max. Needs root and dnsperf
# (Debian package dnsperf); without dnsperf it fails, never skips.
#
#   scripts/dnsperf.sh            full run (10 s per rate): bench/results/dnsperf-<date>.json
#                                 and dnsperf-latest.json. Run it under the shared lock:
#                                 flock /tmp/xdpmux-bench.lock scripts/dnsperf.sh
#   scripts/dnsperf.sh -quick     smoke run (CI): 1 s per rate, writes to a temp dir (or
#                                 $XDPMUX_DNSPERF_OUT), checks the JSON's shape. Never speed.
# XDPMUX_DNSPERF_QPS=20000,100000 sets the paced rates.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

quick=0
for a in "$@"; do
	case "$a" in
	-quick | --quick) quick=1 ;;
	*) echo "dnsperf.sh: unknown argument $a" >&2; exit 2 ;;
	esac
done
need_root dnsperf.sh
need_tool dnsperf.sh dnsperf dnsperf

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDPMUX_DNSPERF=1 XDPMUX_PRIVILEGED=1
if [ "$quick" = 1 ]; then
	export XDPMUX_DNSPERF_QUICK=1
	export XDPMUX_DNSPERF_OUT=${XDPMUX_DNSPERF_OUT:-$tmp/quick.json}
	# The test checks the report's shape before it writes it.
	timeout 170 go test -count=1 -run '^TestDNSPerf$' -v ./examples/dnsserver
	test -s "$XDPMUX_DNSPERF_OUT"
	exit 0
fi
out=bench/results/dnsperf-$(date -u +%Y-%m-%dT%H%M%SZ).json
export XDPMUX_DNSPERF_OUT=$PWD/$out
go test -count=1 -timeout 10m -run '^TestDNSPerf$' -v ./examples/dnsserver
cp "$out" bench/results/dnsperf-latest.json
echo "dnsperf.sh: wrote $out"
