#!/usr/bin/env bash
# pktgen.sh: drive the kernel's packet generator (/proc/net/pktgen) to send
# IPv4/UDP traffic at an xdpmux host, on machines whose kernel has pktgen
# (CONFIG_NET_PKTGEN). Where it does not, use `xdpmux gen`, which sends the
# same kind of traffic from user space (AF_XDP or AF_PACKET).
#
# Flows: the UDP source port walks udp_src_min..udp_src_max (FLOWS ports
# from 1024), so the receiver's RSS spreads the flows over its queues.
# Each pktgen thread (one per CPU, kpktgend_N) gets the device once
# (IF@N), sends COUNT/THREADS packets at RATE/THREADS pps on TX queue N.
#
# Destinations must lie in 198.18.0.0/15 (RFC 2544 benchmarking range)
# unless --allow-any-dst is given.
set -euo pipefail

prog=${0##*/}
PGDIR=/proc/net/pktgen

usage() {
	cat <<EOF
usage: $prog -i IF -d DST_IP [-m DST_MAC] [-p PORT] [-f FLOWS] [-t THREADS]
                 [-s SIZE] [-c COUNT] [-r RATE] [-D SECONDS] [--allow-any-dst]

  -i IF        interface to send on
  -d DST_IP    destination IPv4 address (must be in 198.18.0.0/15)
  -m DST_MAC   destination MAC (default: from 'ip neigh' for DST_IP on IF)
  -p PORT      destination UDP port (default 9)
  -f FLOWS     number of UDP source ports, from 1024 (default 1024)
  -t THREADS   pktgen threads, one per CPU from CPU 0 (default 1)
  -s SIZE      frame size, Ethernet header included, FCS excluded (default 64, min 60)
  -c COUNT     packets in all, split over the threads (default 1000000; 0: until -D or Ctrl-C)
  -r RATE      packets per second in all (default 0: as fast as possible)
  -D SECONDS   stop after this many seconds (default: when COUNT is sent)
  --allow-any-dst  allow a destination outside 198.18.0.0/15

Needs root and the pktgen module. Without them: xdpmux gen -iface IF -dst DST_IP:PORT ...
Exit status: 2 for bad arguments, 1 when root, pktgen or the interface is missing.
EOF
}

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 2
}

# fail: the system lacks something (root, pktgen, the interface): exit 1.
fail() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

IFACE="" DST="" DST_MAC="" PORT=9 FLOWS=1024 THREADS=1 SIZE=64 COUNT=1000000 RATE=0 SECS=0
ALLOW_ANY=0

while (($# > 0)); do
	case $1 in
	-i) IFACE=${2-}; shift 2 || die "-i needs a value" ;;
	-d) DST=${2-}; shift 2 || die "-d needs a value" ;;
	-m) DST_MAC=${2-}; shift 2 || die "-m needs a value" ;;
	-p) PORT=${2-}; shift 2 || die "-p needs a value" ;;
	-f) FLOWS=${2-}; shift 2 || die "-f needs a value" ;;
	-t) THREADS=${2-}; shift 2 || die "-t needs a value" ;;
	-s) SIZE=${2-}; shift 2 || die "-s needs a value" ;;
	-c) COUNT=${2-}; shift 2 || die "-c needs a value" ;;
	-r) RATE=${2-}; shift 2 || die "-r needs a value" ;;
	-D) SECS=${2-}; shift 2 || die "-D needs a value" ;;
	--allow-any-dst) ALLOW_ANY=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done

[[ -n $IFACE ]] || { usage >&2; die "-i IF is required"; }
[[ -n $DST ]] || { usage >&2; die "-d DST_IP is required"; }
[[ $IFACE =~ ^[A-Za-z0-9_.:-]{1,15}$ ]] || die "interface '$IFACE': invalid name"

# Destination: a dotted quad, inside 198.18.0.0/15 unless allowed.
if ! [[ $DST =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]]; then
	die "destination '$DST': want an IPv4 address"
fi
for o in "${BASH_REMATCH[@]:1}"; do
	((10#$o <= 255)) || die "destination '$DST': want an IPv4 address"
done
o1=$((10#${BASH_REMATCH[1]})) o2=$((10#${BASH_REMATCH[2]}))
if ((ALLOW_ANY == 0)) && ! ((o1 == 198 && (o2 == 18 || o2 == 19))); then
	die "destination $DST is outside the benchmarking range 198.18.0.0/15 (use --allow-any-dst to send there)"
fi

for v in PORT FLOWS THREADS SIZE COUNT RATE SECS; do
	is_uint "${!v}" || die "${v,,} '${!v}': want a non-negative integer"
done
((PORT >= 1 && PORT <= 65535)) || die "port $PORT: want 1 to 65535"
((FLOWS >= 1 && FLOWS <= 64512)) || die "flows $FLOWS: want 1 to 64512"
((THREADS >= 1)) || die "threads $THREADS: want at least 1"
((SIZE >= 60 && SIZE <= 9018)) || die "size $SIZE: want 60 to 9018"
((COUNT > 0 || SECS > 0)) || printf '%s: no count and no duration: runs until Ctrl-C\n' "$prog" >&2
if [[ -n $DST_MAC ]] && ! [[ $DST_MAC =~ ^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$ ]]; then
	die "destination MAC '$DST_MAC': want xx:xx:xx:xx:xx:xx"
fi

# The kernel side.
gen_hint="xdpmux gen -iface $IFACE -dst $DST:$PORT"
((ALLOW_ANY == 0)) || gen_hint+=" -allow-any-dst"
((EUID == 0)) || fail "needs root (writes to $PGDIR); or use: $gen_hint"
if [[ ! -d $PGDIR ]]; then
	modprobe pktgen 2>/dev/null || true
fi
if [[ ! -d $PGDIR || ! -e $PGDIR/pgctrl ]]; then
	fail "the kernel packet generator is missing (modprobe pktgen failed, no $PGDIR/pgctrl; kernel built without CONFIG_NET_PKTGEN?): use '$gen_hint' instead"
fi
[[ -e /sys/class/net/$IFACE ]] || fail "interface '$IFACE' not found"
nthreads=0
for f in "$PGDIR"/kpktgend_*; do
	[[ -e $f ]] && nthreads=$((nthreads + 1))
done
((THREADS <= nthreads)) || die "threads $THREADS: pktgen has only $nthreads (one per CPU)"

if [[ -z $DST_MAC ]]; then
	DST_MAC=$(ip -4 neigh show to "$DST" dev "$IFACE" | awk '/lladdr/ { for (i = 1; i < NF; i++) if ($i == "lladdr") { print $(i + 1); exit } }')
	[[ -n $DST_MAC ]] || fail "no neighbour entry for $DST on $IFACE: give -m DST_MAC (or ping $DST first)"
fi

# pgset FILE CMD: write one pktgen command and check its result.
pgset() {
	local file=$1 cmd=$2
	printf '%s\n' "$cmd" >"$file"
	if ! grep -q '^Result: OK' "$file" 2>/dev/null; then
		# Thread files report without "Result:" lines on some kernels.
		if grep -q '^Result:' "$file" 2>/dev/null; then
			fail "pktgen: '$cmd' on $file: $(grep '^Result:' "$file")"
		fi
	fi
}

cleanup() {
	local t
	printf 'stop\n' >"$PGDIR/pgctrl" 2>/dev/null || true
	for ((t = 0; t < nthreads; t++)); do
		printf 'rem_device_all\n' >"$PGDIR/kpktgend_$t" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

per_count=$((COUNT / THREADS))
per_rate=$((RATE / THREADS))
for ((t = 0; t < THREADS; t++)); do
	thr=$PGDIR/kpktgend_$t
	dev=$PGDIR/$IFACE@$t
	pgset "$thr" "rem_device_all"
	pgset "$thr" "add_device $IFACE@$t"
	c=$per_count
	((t < COUNT % THREADS)) && c=$((c + 1))
	((COUNT > 0 && c == 0)) && c=1
	pgset "$dev" "count $c"
	pgset "$dev" "clone_skb 0"
	pgset "$dev" "pkt_size $SIZE"
	pgset "$dev" "delay 0"
	pgset "$dev" "queue_map_min $t"
	pgset "$dev" "queue_map_max $t"
	pgset "$dev" "dst $DST"
	pgset "$dev" "dst_mac $DST_MAC"
	pgset "$dev" "udp_dst_min $PORT"
	pgset "$dev" "udp_dst_max $PORT"
	pgset "$dev" "udp_src_min 1024"
	pgset "$dev" "udp_src_max $((1024 + FLOWS - 1))"
	if ((RATE > 0)); then
		pgset "$dev" "ratep $((per_rate > 0 ? per_rate : 1))"
	fi
done

printf '%s: sending on %s to %s:%d (%s), %d flows, %d thread(s), size %d, count %d, rate %s\n' \
	"$prog" "$IFACE" "$DST" "$PORT" "$DST_MAC" "$FLOWS" "$THREADS" "$SIZE" "$COUNT" \
	"$( ((RATE > 0)) && echo "$RATE pps" || echo max)"
if ((SECS > 0)); then
	printf 'start\n' >"$PGDIR/pgctrl" &
	runner=$!
	sleep "$SECS"
	printf 'stop\n' >"$PGDIR/pgctrl" || true
	wait "$runner" || true
else
	printf 'start\n' >"$PGDIR/pgctrl"
fi

for ((t = 0; t < THREADS; t++)); do
	printf '%s@%d: ' "$IFACE" "$t"
	grep -A2 '^Result:' "$PGDIR/$IFACE@$t" | tr -s ' \n' ' '
	echo
done
