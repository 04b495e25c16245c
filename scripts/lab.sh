#!/usr/bin/env bash
# lab.sh: the `xdpmux demo` topology, for manual work.
#
#   scripts/lab.sh up   [-q QUEUES] [-n NAME]   build it and print names and addresses
#   scripts/lab.sh down [-n NAME]               delete it
#
# Two network namespaces, NAME-s (sender) and NAME-r (receiver), joined by a
# veth pair NAMEs <-> NAMEr with QUEUES rx and tx queues on each end;
# 198.19.0.1/24 on the sender, 198.19.0.2/24 on the receiver (inside the
# benchmarking range 198.18.0.0/15); IPv6 off and permanent neighbour entries
# both ways, so the lab is silent and no ARP is needed. Needs root.
#
# Then, for example:
#   ip netns exec NAME-r xdpmux run -iface NAMEr ...
#   ip netns exec NAME-s xdpmux gen -iface NAMEs -dst 198.19.0.2:9000 -rate 100000
set -euo pipefail

usage() {
	echo "usage: $0 up|down [-q QUEUES] [-n NAME]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
queues=2
name=xmlab
while getopts "q:n:" opt; do
	case $opt in
	q) queues=$OPTARG ;;
	n) name=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

if ! [[ $name =~ ^[A-Za-z0-9]{1,12}$ ]]; then
	echo "lab.sh: -n $name: want 1 to 12 letters or digits" >&2
	exit 2
fi
if ! [[ $queues =~ ^[0-9]+$ ]] || [ "$queues" -lt 1 ] || [ "$queues" -gt 64 ]; then
	echo "lab.sh: -q $queues: want 1 to 64" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "lab.sh: needs root (CAP_NET_ADMIN)" >&2
	exit 1
fi

rns=$name-r sns=$name-s
rif=${name}r sif=${name}s
raddr=198.19.0.2 saddr=198.19.0.1

down() {
	local ns
	for ns in "$sns" "$rns"; do
		if ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
			ip netns del "$ns"
			echo "deleted netns $ns"
		fi
	done
}

up() {
	if ip netns list | awk '{print $1}' | grep -qx -- "$rns"; then
		echo "lab.sh: $rns exists: run '$0 down -n $name' first" >&2
		exit 1
	fi
	trap 'down >/dev/null 2>&1 || true' ERR
	ip netns add "$rns"
	ip netns add "$sns"
	for ns in "$rns" "$sns"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done
	ip -n "$sns" link add "$sif" numtxqueues "$queues" numrxqueues "$queues" type veth \
		peer name "$rif" netns "$rns" numtxqueues "$queues" numrxqueues "$queues"
	ip -n "$rns" addr add "$raddr/24" dev "$rif"
	ip -n "$sns" addr add "$saddr/24" dev "$sif"
	ip -n "$rns" link set "$rif" up
	ip -n "$sns" link set "$sif" up
	local rmac smac
	rmac=$(ip -n "$rns" -br link show dev "$rif" | awk '{print $3}')
	smac=$(ip -n "$sns" -br link show dev "$sif" | awk '{print $3}')
	ip -n "$rns" neigh replace "$saddr" lladdr "$smac" dev "$rif" nud permanent
	ip -n "$sns" neigh replace "$raddr" lladdr "$rmac" dev "$sif" nud permanent
	trap - ERR
	cat <<EOT
lab $name up: $queues queues
  receiver: netns $rns  dev $rif  $raddr/24  $rmac
  sender:   netns $sns  dev $sif  $saddr/24  $smac
  run in it: ip netns exec $rns ...   /   ip netns exec $sns ...
  delete:    $0 down -n $name
EOT
}

case $cmd in
up) up ;;
down) down ;;
*) usage ;;
esac
