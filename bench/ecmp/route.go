package ecmp

import (
	"encoding/json"
	"fmt"
	"slices"
)

// parseRoutePaths reads `ip -j route show` output holding at most one
// route, installed by BIRD, and returns the sorted host indices of its
// nexthops.
func parseRoutePaths(js []byte, host func(dev string) (int, bool)) ([]int, error) {
	type nh struct {
		Gateway string `json:"gateway"`
		Dev     string `json:"dev"`
	}
	var routes []struct {
		nh
		Protocol string `json:"protocol"`
		Nexthops []nh   `json:"nexthops"`
	}
	if err := json.Unmarshal(js, &routes); err != nil {
		return nil, fmt.Errorf("ip -j route: %w", err)
	}
	var hosts []int
	for _, r := range routes {
		if r.Protocol != "bird" {
			return nil, fmt.Errorf("ip -j route: route from %q, want one BIRD installed", r.Protocol)
		}
		nhs := r.Nexthops
		if len(nhs) == 0 && r.Dev != "" {
			nhs = []nh{r.nh}
		}
		for _, n := range nhs {
			i, ok := host(n.Dev)
			if !ok {
				return nil, fmt.Errorf("ip -j route: nexthop via %s dev %s is no host", n.Gateway, n.Dev)
			}
			hosts = append(hosts, i)
		}
	}
	slices.Sort(hosts)
	return hosts, nil
}

// diffOne returns the member whose count grew between a and b, and by how
// much the counts grew in all.
func diffOne(a, b []map[string]uint64) (Placement, uint64) {
	var p Placement
	var n uint64
	for h := range b {
		for name, v := range b[h] {
			var old uint64
			if h < len(a) {
				old = a[h][name]
			}
			if v > old {
				n += v - old
				p = Placement{Host: h, Member: name}
			}
		}
	}
	return p, n
}
