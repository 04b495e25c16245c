package main

import (
	"net/netip"
	"strings"
	"testing"
)

func TestValidateGVisorLink(t *testing.T) {
	addr := netip.MustParseAddrPort("198.18.0.3:80")
	for _, tc := range []struct {
		name    string
		o       options
		wantErr string // "" for none
	}{
		{"fdbased", options{GVisorLink: gvisorFdbased, Iface: "eth1", Addr: addr, Members: 1}, ""},
		{"xdp", options{GVisorLink: gvisorXDP, Iface: "eth1", Addr: addr, Members: 1}, ""},
		{"unknown", options{GVisorLink: "tap", Iface: "eth1", Addr: addr, Members: 1}, `-gvisor-link "tap"`},
		{"with -kernel", options{GVisorLink: gvisorXDP, Kernel: true, Addr: addr, Members: 1}, "exclude each other"},
		{"no iface", options{GVisorLink: gvisorFdbased, Addr: addr, Members: 1}, "-iface is required"},
		{"wildcard", options{GVisorLink: gvisorFdbased, Iface: "eth1", Addr: netip.MustParseAddrPort("0.0.0.0:80"), Members: 1}, "wildcard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.validate()
			if !gvisorLinks && tc.wantErr == "" {
				tc.wantErr = "Linux-only"
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("validate: %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("validate: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
