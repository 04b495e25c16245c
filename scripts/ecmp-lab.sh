#!/usr/bin/env bash
# ecmp-lab.sh: xdpmux hosts behind an ECMP router fed by BGP (docs/SCALING.md),
# for manual work. bench/ecmp builds the same lab for its test.
#
#   scripts/ecmp-lab.sh up   [-n NAME] [-H HOSTS] [-m MEMBERS] [-q QUEUES] [-x XDPMUX]
#   scripts/ecmp-lab.sh down [-n NAME]
#   scripts/ecmp-lab.sh drain N [-n NAME]      withdraw host N's announcement, wait for
#                                              the router, then stop host N's xdpmux
#   scripts/ecmp-lab.sh undrain N [-n NAME]    start host N's xdpmux, announce again
#   scripts/ecmp-lab.sh resilient on|off|sync [-n NAME]
#                                              route the service through a resilient
#                                              nexthop group mirroring BIRD's route
#   scripts/ecmp-lab.sh status [-n NAME]       BGP sessions and the router's route
#   scripts/ecmp-lab.sh config router|host N [-H HOSTS]   print a BIRD configuration
#
# Namespaces NAME-c (client), NAME-r (router), NAME-h1..NAME-hHOSTS. The client
# (198.18.0.2/24 on up0) routes via the router (198.18.0.1/24 on cl0); host i
# is 198.18.i.2/24 on up0, the router 198.18.i.1/24 on hi, each with QUEUES
# rx and tx queues (the client's link has one). Each host holds the service
# address 198.19.255.1/32 on lo, runs
# `xdpmux run -iface up0 udp/198.19.255.1:7000/MEMBERS` and a BIRD that
# announces the /32 over eBGP (AS 65001) to the router's BIRD (AS 65000),
# whose kernel protocol installs one multipath route over the hosts; the
# router hashes ports (fib_multipath_hash_policy=1). IPv6 is off; every
# address is inside 198.18.0.0/15. State (configs, control sockets, logs,
# pids) is in /run/xdpmux-ecmp-NAME. Needs root, iproute2 and bird2.
#
# Then, for example:
#   ip netns exec NAME-c xdpmux gen ...    or any UDP client to 198.19.255.1:7000
#   xdpmux stats -ctl /run/xdpmux-ecmp-NAME/h1.xdpmux.ctl
#   birdc -s /run/xdpmux-ecmp-NAME/h3.bird.ctl disable service    (the drain itself)
set -euo pipefail

usage() {
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
arg=
case $cmd in
drain | undrain | resilient)
	[ $# -ge 1 ] || usage
	arg=$1
	shift
	;;
config)
	[ $# -ge 1 ] || usage
	arg=$1
	shift
	if [ "$arg" = host ]; then
		[ $# -ge 1 ] || usage
		arg="host $1"
		shift
	fi
	;;
esac
name=ecmplab hosts=3 members=4 queues=2 xdpmux=
while getopts "n:H:m:q:x:" opt; do
	case $opt in
	n) name=$OPTARG ;;
	H) hosts=$OPTARG ;;
	m) members=$OPTARG ;;
	q) queues=$OPTARG ;;
	x) xdpmux=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

if ! [[ $name =~ ^[A-Za-z0-9]{1,10}$ ]]; then
	echo "ecmp-lab.sh: -n $name: want 1 to 10 letters or digits" >&2
	exit 2
fi
if ! [[ $hosts =~ ^[0-9]+$ ]] || [ "$hosts" -lt 2 ] || [ "$hosts" -gt 8 ]; then
	echo "ecmp-lab.sh: -H $hosts: want 2 to 8" >&2
	exit 2
fi
if ! [[ $members =~ ^[0-9]+$ ]] || [ "$members" -lt 1 ] || [ "$members" -gt 64 ]; then
	echo "ecmp-lab.sh: -m $members: want 1 to 64" >&2
	exit 2
fi
if ! [[ $queues =~ ^[0-9]+$ ]] || [ "$queues" -lt 1 ] || [ "$queues" -gt 16 ]; then
	echo "ecmp-lab.sh: -q $queues: want 1 to 16" >&2
	exit 2
fi

service=198.19.255.1 srange=198.19.255.0/24 port=7000
router_as=65000 host_as=65001
cns=$name-c rns=$name-r
state=/run/xdpmux-ecmp-$name
# Resilient mode: nexthop ids 1..HOSTS are the hosts, group 100 in table 200,
# chosen by the rule of priority 100 (as bench/ecmp's Resilient* constants).
rgroup=100 rbuckets=512 ridle=10 rtable=200 rpref=100

# The BIRD configurations: keep them byte for byte equal to bench/ecmp's
# HostBIRDConfig and RouterBIRDConfig (TestScriptConfigs compares them).
host_config() { # host_config SELF ROUTER
	cat <<EOT
# xdpmux ECMP lab: host $1 announces $service/32 to the router $2.
log stderr all;
router id $1;

protocol device {
	scan time 10;
}

# The announcement. Drain: birdc disable service; undrain: birdc enable service.
protocol static service {
	ipv4;
	route $service/32 unreachable;
}

protocol bgp uplink {
	local $1 as $host_as;
	neighbor $2 as $router_as;
	hold time 9;
	keepalive time 3;
	connect retry time 1;
	error wait time 1, 5;
	connect delay time 1;
	ipv4 {
		import none;
		export where proto = "service";
		next hop self;
	};
}
EOT
}

router_config() {
	cat <<EOT
# xdpmux ECMP lab: the router installs one multipath route per service prefix.
log stderr all;
router id 198.18.0.1;

protocol device {
	scan time 10;
}

protocol kernel {
	scan time 10;
	merge paths yes limit 16;
	ipv4 {
		import none;
		export all;
	};
}

filter service_only {
	if net ~ [ $srange{32,32} ] then accept;
	reject;
}

template bgp hosts {
	local as $router_as;
	passive yes;
	hold time 9;
	keepalive time 3;
	ipv4 {
		import filter service_only;
		export none;
	};
}
EOT
	local i
	for i in $(seq 1 "$hosts"); do
		printf '\nprotocol bgp h%d from hosts {\n\tsource address 198.18.%d.1;\n\tneighbor 198.18.%d.2 as %d;\n}\n' \
			"$i" "$i" "$i" "$host_as"
	done
}

if [ "$cmd" = config ]; then
	case $arg in
	router) router_config ;;
	host\ *)
		i=${arg#host }
		[[ $i =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$hosts" ] || usage
		host_config "198.18.$i.2" "198.18.$i.1"
		;;
	*) usage ;;
	esac
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "ecmp-lab.sh: needs root (CAP_NET_ADMIN, CAP_BPF)" >&2
	exit 1
fi
for tool in ip bird birdc; do
	command -v $tool >/dev/null || {
		echo "ecmp-lab.sh: needs $tool (Debian: apt-get install bird2 iproute2)" >&2
		exit 1
	}
done

# The host count of a running lab.
if [ -f "$state/hosts" ] && [ "$cmd" != up ]; then
	hosts=$(cat "$state/hosts")
fi

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

wait_for() { # wait_for SECONDS WHAT CMD...: poll CMD every 0.1 s
	local secs=$1 what=$2 n=0
	shift 2
	until "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		if [ $n -gt $((secs * 10)) ]; then
			echo "ecmp-lab.sh: timed out after ${secs}s waiting for $what" >&2
			return 1
		fi
		sleep 0.1
	done
}

# The hosts of the router's route to the service, e.g. "h1 h2 h3".
paths() {
	ip -n "$rns" route show table main "$service/32" | grep -o 'dev h[0-9]*' | awk '{print $2}' | sort | xargs
}

paths_are() { [ "$(paths)" = "$1" ]; }

start_xdpmux() { # start_xdpmux I
	local i=$1
	ip netns exec "$name-h$i" setsid "$xdpmux" run -iface up0 -ctl "$state/h$i.xdpmux.ctl" \
		"udp/$service:$port/$members" >"$state/h$i.xdpmux.log" 2>&1 </dev/null &
	echo $! >"$state/h$i.xdpmux.pid"
	wait_for 30 "xdpmux on host $i" "$xdpmux" stats -ctl "$state/h$i.xdpmux.ctl" || {
		tail -5 "$state/h$i.xdpmux.log" >&2
		return 1
	}
}

stop_pid() { # stop_pid PIDFILE: SIGTERM, wait up to 10 s, then SIGKILL
	local pid n=0
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	rm -f "$1"
	kill -TERM "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null; do
		n=$((n + 1))
		if [ $n -gt 100 ]; then
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
}

start_bird() { # start_bird NS NAME CONFIG
	printf '%s\n' "$3" >"$state/$2.bird.conf"
	# bird forks into the background and writes its pid file.
	ip netns exec "$1" bird -c "$state/$2.bird.conf" -s "$state/$2.bird.ctl" -P "$state/$2.bird.pid"
	wait_for 20 "bird $2" birdc -s "$state/$2.bird.ctl" show status
}

down() {
	local f ns i
	for f in "$state"/*.pid; do
		[ -e "$f" ] && stop_pid "$f"
	done
	for ns in "$cns" "$rns" $(for i in $(seq 1 "$hosts"); do echo "$name-h$i"; done); do
		if ns_exists "$ns"; then
			ip netns del "$ns"
			echo "deleted netns $ns"
		fi
	done
	rm -rf "$state"
}

up() {
	if ns_exists "$rns"; then
		echo "ecmp-lab.sh: $rns exists: run '$0 down -n $name' first" >&2
		exit 1
	fi
	if [ -z "$xdpmux" ]; then
		mkdir -p "$state"
		(cd "$(dirname "$0")/.." && go build -o "$state/xdpmux" ./cmd/xdpmux)
		xdpmux=$state/xdpmux
	fi
	xdpmux=$(realpath "$xdpmux")
	trap 'down >/dev/null 2>&1 || true' ERR
	mkdir -p "$state"
	echo "$hosts" >"$state/hosts"
	local ns i all=
	for ns in "$cns" "$rns" $(for i in $(seq 1 "$hosts"); do echo "$name-h$i"; done); do
		ip netns add "$ns"
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done
	# One queue on the client's link: the router then hashes each packet
	# itself (ECMP, and the tx queue towards the host, like RSS there).
	ip -n "$cns" link add up0 type veth peer name cl0 netns "$rns"
	ip -n "$cns" addr add 198.18.0.2/24 dev up0
	ip -n "$cns" link set up0 up
	ip -n "$cns" route add default via 198.18.0.1
	ip -n "$rns" addr add 198.18.0.1/24 dev cl0
	ip -n "$rns" link set cl0 up
	for i in $(seq 1 "$hosts"); do
		ip -n "$rns" link add "h$i" numtxqueues "$queues" numrxqueues "$queues" type veth \
			peer name up0 netns "$name-h$i" numtxqueues "$queues" numrxqueues "$queues"
		ip -n "$rns" addr add "198.18.$i.1/24" dev "h$i"
		ip -n "$rns" link set "h$i" up
		ip -n "$name-h$i" addr add "198.18.$i.2/24" dev up0
		ip -n "$name-h$i" link set up0 up
		# The service address is local on every host, as in anycast.
		ip -n "$name-h$i" addr add "$service/32" dev lo
		all="$all h$i"
	done
	ip netns exec "$rns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
	echo "$xdpmux" >"$state/xdpmux"
	start_bird "$rns" router "$(router_config)"
	for i in $(seq 1 "$hosts"); do
		start_xdpmux "$i"
		start_bird "$name-h$i" "h$i" "$(host_config "198.18.$i.2" "198.18.$i.1")"
	done
	wait_for 60 "the router's multipath route over$all" paths_are "${all# }"
	trap - ERR
	cat <<EOT
lab $name up: $hosts hosts, $members members each, $queues queues, state in $state
  client: ip netns exec $cns ...   (198.18.0.2, route via the router)
  router: $(ip -n "$rns" route show "$service/32" | tr -s '\n\t' ' ')
  stats:  xdpmux stats -ctl $state/h1.xdpmux.ctl
  bgp:    birdc -s $state/router.bird.ctl show protocols
  drain:  $0 drain 3 -n $name      delete: $0 down -n $name
EOT
}

resilient_sync() {
	local ids
	ids=$(paths | sed 's/h//g' | tr ' ' /)
	[ -n "$ids" ] || {
		echo "ecmp-lab.sh: no host announces $service" >&2
		return 1
	}
	ip -n "$rns" nexthop replace id $rgroup group "$ids" type resilient buckets $rbuckets idle_timer $ridle
}

resilient() {
	local i
	case $arg in
	on)
		for i in $(seq 1 "$hosts"); do
			ip -n "$rns" nexthop replace id "$i" via "198.18.$i.2" dev "h$i"
		done
		resilient_sync
		ip -n "$rns" route replace "$service/32" nhid $rgroup table $rtable
		ip -n "$rns" rule del pref $rpref 2>/dev/null || true
		ip -n "$rns" rule add to "$service/32" lookup $rtable pref $rpref
		touch "$state/resilient"
		;;
	off)
		ip -n "$rns" rule del pref $rpref 2>/dev/null || true
		ip -n "$rns" route flush table $rtable 2>/dev/null || true
		ip -n "$rns" nexthop flush >/dev/null
		rm -f "$state/resilient"
		;;
	sync) resilient_sync ;;
	*) usage ;;
	esac
}

check_host() {
	[[ $arg =~ ^[0-9]+$ ]] && [ "$arg" -ge 1 ] && [ "$arg" -le "$hosts" ] || {
		echo "ecmp-lab.sh: host $arg: want 1 to $hosts" >&2
		exit 2
	}
	[ -d "$state" ] || {
		echo "ecmp-lab.sh: lab $name is not up" >&2
		exit 1
	}
}

drain() {
	check_host
	local i want=
	for i in $(seq 1 "$hosts"); do
		[ "$i" = "$arg" ] || ! paths | grep -qw "h$i" || want="$want h$i"
	done
	# 1. Withdraw the announcement; the router's BIRD removes the host.
	birdc -s "$state/h$arg.bird.ctl" disable service
	wait_for 30 "the router to drop host $arg" paths_are "${want# }"
	# 2. In resilient mode, give the group the new member list.
	[ ! -f "$state/resilient" ] || resilient_sync
	# 3. No new datagram reaches the host: stop its group.
	sleep 1
	stop_pid "$state/h$arg.xdpmux.pid"
	echo "host $arg drained and stopped; router: $(paths)"
}

undrain() {
	check_host
	xdpmux=$(cat "$state/xdpmux")
	[ -f "$state/h$arg.xdpmux.pid" ] || start_xdpmux "$arg"
	birdc -s "$state/h$arg.bird.ctl" enable service
	wait_for 30 "the router to add host $arg" sh -c "ip -n $rns route show $service/32 | grep -qw h$arg"
	[ ! -f "$state/resilient" ] || resilient_sync
	echo "host $arg serving; router: $(paths)"
}

status() {
	birdc -s "$state/router.bird.ctl" show protocols
	ip -n "$rns" route show "$service/32"
	if [ -f "$state/resilient" ]; then
		ip -n "$rns" rule show pref $rpref
		ip -n "$rns" route show table $rtable
		ip -n "$rns" nexthop show
	fi
}

case $cmd in
up) up ;;
down) down ;;
drain) drain ;;
undrain) undrain ;;
resilient) resilient ;;
status) status ;;
*) usage ;;
esac
