#!/usr/bin/env bash
# pgo.sh: refresh the profile-guided builds' profile (default.pgo).
#
#   scripts/pgo.sh [-t SECONDS] [-k]
#
# Makes one CPU profile of the dataplane under traffic and writes it as
# cmd/xdpmux/default.pgo; the other main packages whose hot path is the
# dataplane link to it (bench/cmd/xdpmux-bench, bench/cmd/xdpmux-latency,
# examples/dnsserver: a symbolic link default.pgo to it). With
# Go's default -pgo=auto, `go build` of those packages then compiles with
# it (docs/OPERATIONS.md, "Profile-guided build"). Two profiles, merged
# (go tool pprof -proto):
#
#   1. the reader path: `xdpmux run -cpuprofile` with four counting sinks
#      (udp/198.19.0.2:9000/4) in a scripts/lab.sh lab, `xdpmux gen` at full
#      speed from the other namespace, SECONDS long (default 30);
#   2. the run-to-completion path: the saturation window of xdpmux-bench's
#      xdpmux-handler row (-handler -sockets 1 -rate 0 -profile DIR), less
#      the samples of its in-process generator (bench/txgen: -ignore), which
#      are most of that process's CPU (the sendto that drives the veth) and
#      would make the dataplane's call edges look cold, and would tune the
#      generator of the benchmark that measures the gain.
#
# Both binaries are built with -pgo=off, so the new profile does not
# depend on the old one. Takes about two minutes. Hold the
# benchmark lock (flock /tmp/xdpmux-bench.lock scripts/pgo.sh) on a shared
# machine. -k keeps the two raw profiles in bench/results/pgo-raw/.
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

secs=30 keep=
while getopts "t:k" opt; do
	case $opt in
	t) secs=$OPTARG ;;
	k) keep=1 ;;
	*) echo "usage: $0 [-t SECONDS] [-k]" >&2; exit 2 ;;
	esac
done
need_root pgo.sh

name=pgo$$
tmp=$(mktemp -d)
runpid=
cleanup() {
	if [ -n "$runpid" ]; then kill -INT "$runpid" 2>/dev/null || true; wait "$runpid" 2>/dev/null || true; fi
	scripts/lab.sh down -n "$name" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -pgo=off -o "$tmp/xdpmux" ./cmd/xdpmux
go build -pgo=off -o "$tmp/xdpmux-bench" ./bench/cmd/xdpmux-bench

# 1. The reader path: xdpmux run under xdpmux gen.
scripts/lab.sh up -q 2 -n "$name" >/dev/null
ip netns exec "$name-r" "$tmp/xdpmux" run -iface "${name}r" -ctl none -sink \
	-cpuprofile "$tmp/run.pprof" udp/198.19.0.2:9000/4 >"$tmp/run.out" 2>&1 &
runpid=$!
sleep 2
if ! kill -0 "$runpid" 2>/dev/null; then
	cat "$tmp/run.out" >&2
	echo "pgo.sh: xdpmux run did not start" >&2
	exit 1
fi
ip netns exec "$name-s" "$tmp/xdpmux" gen -iface "${name}s" -dst 198.19.0.2:9000 -flows 4096 \
	-duration "${secs}s" -json >"$tmp/gen.json"
kill -INT "$runpid"
wait "$runpid"
runpid=
echo "reader: $(cat "$tmp/gen.json"); sinks: $(grep -c . "$tmp/run.out") lines of output"
scripts/lab.sh down -n "$name" >/dev/null

# 2. The run-to-completion path: xdpmux-bench's handler window.
mkdir "$tmp/prof"
"$tmp/xdpmux-bench" -handler -sockets 1 -rate 0 -window "${secs}s" \
	-skip xdp-drop,afxdp-rxdrop,afxdp-c,kernel-reuseport,kernel-busypoll,kernel-reuseport-untuned \
	-policies threshold -disruption-members 2 -disruption-flows 256 \
	-profile "$tmp/prof" -o "$tmp/bench.json" -no-table >"$tmp/bench.out" 2>&1 ||
	{ cat "$tmp/bench.out" >&2; exit 1; }
[ -s "$tmp/prof/xdpmux-handler-1.pprof" ] || { echo "pgo.sh: no handler profile" >&2; exit 1; }

go tool pprof -proto -ignore 'xdpmux/bench/txgen' "$tmp/run.pprof" "$tmp/prof/xdpmux-handler-1.pprof" \
	>"$tmp/merged.pgo" 2>/dev/null
mv "$tmp/merged.pgo" cmd/xdpmux/default.pgo
for link in bench/cmd/xdpmux-bench:../../../cmd/xdpmux/default.pgo \
	bench/cmd/xdpmux-latency:../../../cmd/xdpmux/default.pgo examples/dnsserver:../../cmd/xdpmux/default.pgo; do
	ln -sfn "${link#*:}" "${link%%:*}/default.pgo"
	[ -s "${link%%:*}/default.pgo" ] || { echo "pgo.sh: ${link%%:*}/default.pgo: broken link" >&2; exit 1; }
done
if [ -n "$keep" ]; then
	mkdir -p bench/results/pgo-raw
	cp "$tmp/run.pprof" "$tmp/prof/xdpmux-handler-1.pprof" "$tmp/bench.json" "$tmp/gen.json" bench/results/pgo-raw/
fi
echo "wrote cmd/xdpmux/default.pgo ($(stat -c %s cmd/xdpmux/default.pgo) bytes); top of the profile:"
go tool pprof -top -nodecount 15 cmd/xdpmux/default.pgo 2>/dev/null | sed -n '1,22p'
