package ecmp

import "net/netip"

// The lab's fixed addresses, all inside 198.18.0.0/15. Host i (0-based)
// is 198.18.(i+1).2/24, the router 198.18.(i+1).1/24 on that link.
var (
	ClientAddr   = netip.MustParseAddr("198.18.0.2")
	RouterAddr   = netip.MustParseAddr("198.18.0.1")
	Service      = netip.MustParseAddr("198.19.255.1")
	ServiceRange = netip.MustParsePrefix("198.19.255.0/24")
)

// ServicePort is the UDP port of the service.
const ServicePort = 7000

// DefaultPrefix starts the names of the lab's namespaces.
const DefaultPrefix = "ecmp"
