#!/usr/bin/env bash
# gVisor netstack comparison (issue 19, docs/NETSTACK.md "Figures"):
# examples/httpserver's HTTP handler on gVisor stacks fed by xdpmux (4 members
# of one TCP group, 2 queues), on one gVisor stack on gVisor's own fdbased
# (AF_PACKET) and xdp (AF_XDP, queue 0) link endpoints, and on kernel
# SO_REUSEPORT listeners, wrk in the sending namespace of a veth lab: GET /
# with 64 and 256 connections (requests/s, latency percentiles, CPU per
# request) and a bulk GET (MB/s). Needs root and wrk (Debian package wrk);
# without wrk it fails, never skips. It takes the shared measurement lock
# (/tmp/xdpmux-bench.lock) around the run itself.
#
#   scripts/netstack.sh           full run (8 s per run, about 2 minutes):
#                                 bench/results/netstack-<date>.json and netstack-latest.json
#   scripts/netstack.sh -quick    smoke run: 1 s per run, 64 connections, writes to a temp
#                                 file (or $XDPMUX_WRK_OUT), checks the JSON's shape. Never speed.
# XDPMUX_WRK_CONNS=64,256, XDPMUX_WRK_DURATION=8s, XDPMUX_WRK_MEMBERS=4 tune the full run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

quick=0
for a in "$@"; do
	case "$a" in
	-quick | --quick) quick=1 ;;
	*) echo "netstack.sh: unknown argument $a" >&2; exit 2 ;;
	esac
done
need_root netstack.sh
need_tool netstack.sh wrk wrk

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Build outside the lock; measure inside it.
go test -c -o "$tmp/httpserver.test" ./examples/httpserver
export XDPMUX_WRK=1 XDPMUX_PRIVILEGED=1
run() {
	(cd examples/httpserver && flock /tmp/xdpmux-bench.lock \
		timeout "$1" "$tmp/httpserver.test" -test.run '^TestWrk$' -test.v -test.count=1 -test.timeout "$1s")
}
if [ "$quick" = 1 ]; then
	export XDPMUX_WRK_QUICK=1
	export XDPMUX_WRK_OUT=${XDPMUX_WRK_OUT:-$tmp/quick.json}
	# The test checks the report's shape before it writes it.
	run 60
	test -s "$XDPMUX_WRK_OUT"
	exit 0
fi
out=bench/results/netstack-$(date -u +%Y-%m-%dT%H%M%SZ).json
export XDPMUX_WRK_OUT=$PWD/$out
run 600
cp "$out" bench/results/netstack-latest.json
echo "netstack.sh: wrote $out"
