// Package ecmp is the lab and test of xdpmux hosts behind a router that
// spreads flows over them with ECMP, the service address announced over BGP
// by BIRD 2 on each host (docs/SCALING.md).
//
//	client ──veth── router ══veth══ host 1 (BIRD, xdpmux run, reuseport group)
//	                       ══veth══ host 2
//	                       ══veth══ host 3
//
// Each host holds the service address as a /32 on its loopback, as anycast
// deployments do, so xdpmux's bind to it is local; its BIRD announces that
// /32 to the router's BIRD, whose kernel protocol installs one multipath
// route (merge paths) over every host that announces it. The router hashes
// ports (net.ipv4.fib_multipath_hash_policy=1), so each UDP flow sticks to
// one host, where xdpmux's group picks one member for it. A host is drained
// by withdrawing its announcement (birdc disable service); once the router
// has removed it, its xdpmux can stop without losing a datagram.
//
// The router's standard multipath (RFC 2992 hash-threshold) moves some
// flows of the hosts that stay when one leaves; a resilient nexthop group
// (ip nexthop ... type resilient) moves only the flows of the host that
// leaves. BIRD 2 installs plain multipath routes, not nexthop objects, so in
// resilient mode the lab mirrors BIRD's route into a resilient group
// (SyncResilient) and steers the service address to it with an ip rule.
//
// The pure parts (BIRD configuration, flow maps and the share that moved)
// work everywhere and have unprivileged tests; the lab needs Linux, root,
// ip(8) and bird(8). Names carry the process id and a random suffix; every
// address is inside 198.18.0.0/15.
package ecmp
