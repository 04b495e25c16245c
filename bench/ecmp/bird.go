package ecmp

import (
	"fmt"
	"net/netip"
	"strings"
)

// AS numbers of the lab (private range): the router has one, every host
// shares another, as the hosts of one anycast service usually do.
const (
	RouterAS = 65000
	HostAS   = 65001
)

// ServiceProtocol is the name of the BIRD protocol that holds the service
// route on a host: `birdc disable service` withdraws the announcement
// (drain), `birdc enable service` announces it again.
const ServiceProtocol = "service"

// HostBIRDConfig is the BIRD 2 configuration of a host: a static route for
// the service prefix (the announcement; BIRD installs nothing in the host's
// kernel) and one eBGP session to the router that exports only that route,
// with the host's own address as next hop.
func HostBIRDConfig(self, router netip.Addr, service netip.Prefix) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# xdpmux ECMP lab: host %[1]s announces %[3]s to the router %[2]s.
log stderr all;
router id %[1]s;

protocol device {
	scan time 10;
}

# The announcement. Drain: birdc disable %[4]s; undrain: birdc enable %[4]s.
protocol static %[4]s {
	ipv4;
	route %[3]s unreachable;
}

protocol bgp uplink {
	local %[1]s as %[5]d;
	neighbor %[2]s as %[6]d;
	hold time 9;
	keepalive time 3;
	connect retry time 1;
	error wait time 1, 5;
	connect delay time 1;
	ipv4 {
		import none;
		export where proto = "%[4]s";
		next hop self;
	};
}
`, self, router, service, ServiceProtocol, HostAS, RouterAS)
	return b.String()
}

// Neighbor is one BGP peer of the router: a host's address and the
// router's own address on that link.
type Neighbor struct {
	Name  string // BIRD protocol name, e.g. "h1"
	Local netip.Addr
	Peer  netip.Addr
}

// RouterBIRDConfig is the BIRD 2 configuration of the router: one passive
// eBGP session per host, importing only prefixes inside accept (the service
// range), and a kernel protocol that merges the equal BGP routes into one
// multipath route in the main table.
func RouterBIRDConfig(self netip.Addr, accept netip.Prefix, neighbors []Neighbor) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# xdpmux ECMP lab: the router installs one multipath route per service prefix.
log stderr all;
router id %[1]s;

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
	if net ~ [ %[2]s{32,32} ] then accept;
	reject;
}

template bgp hosts {
	local as %[3]d;
	passive yes;
	hold time 9;
	keepalive time 3;
	ipv4 {
		import filter service_only;
		export none;
	};
}
`, self, accept, RouterAS)
	for _, n := range neighbors {
		fmt.Fprintf(&b, "\nprotocol bgp %s from hosts {\n\tsource address %s;\n\tneighbor %s as %d;\n}\n",
			n.Name, n.Local, n.Peer, HostAS)
	}
	return b.String()
}
