package pcb

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xdpmux/xdpmux/localgroup"
)

func TestSpecString(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{sp("udp/0.0.0.0:53"), "udp/0.0.0.0:53"},
		{sp("tcp/[::]:443"), "tcp/[::]:443"},
		{sp("tcp/198.18.0.1:80->198.18.0.2:1234"), "tcp/198.18.0.1:80->198.18.0.2:1234"},
		{sp("udp/[2001:db8::1]:53->[2001:db8::2]:9"), "udp/[2001:db8::1]:53->[2001:db8::2]:9"},
	}
	for _, tt := range tests {
		if got := tt.spec.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	if got := UIDOwner(1000); got != "uid:1000" {
		t.Errorf("UIDOwner(1000) = %q", got)
	}
}

func TestValidate(t *testing.T) {
	valid := []Spec{
		sp("udp/0.0.0.0:53"),
		sp("tcp/[::]:443", dual),
		sp("tcp/[::ffff:198.18.0.1]:443", dual),
		sp("udp/198.18.0.1:53", jail("198.18.0.1", "198.18.0.2")),
		sp("udp/0.0.0.0:53", jail("198.18.0.1")),
		sp("udp/[::]:53", dual, jail("198.18.0.1", "2001:db8::1")),
		sp("tcp/198.18.0.1:80->198.18.0.2:1234"),
		sp("tcp/198.18.0.1:80->[::ffff:198.18.0.2]:1234"),
		sp("tcp/[::ffff:198.18.0.1]:80->198.18.0.2:1234", dual),
		sp("udp/0.0.0.0:53", func(s *Spec) { s.Jail = []netip.Addr{} }), // empty jail: not jailed
	}
	for _, s := range valid {
		if err := s.Validate(); err != nil {
			t.Errorf("Validate(%v) = %v, want nil", s, err)
		}
	}
	invalid := []struct {
		spec Spec
		why  string
	}{
		{sp("icmp/0.0.0.0:53"), "protocol"},
		{Spec{Proto: UDP}, "no local address"},
		{sp("udp/0.0.0.0:0"), "port 0"},
		{sp("udp/0.0.0.0:53", dual), "dual-stack set on an IPv4"},
		{sp("udp/[::ffff:198.18.0.1]:53"), "v4-mapped local address needs dual-stack"},
		{sp("udp/[::ffff:0.0.0.0]:53", dual), "v4-mapped unspecified"},
		{sp("udp/[fe80::1%eth0]:53"), "zoned"},
		{sp("tcp/0.0.0.0:80->198.18.0.2:1234"), "specific local address"},
		{sp("tcp/198.18.0.1:80->198.18.0.2:0"), "remote port 0"},
		{sp("tcp/198.18.0.1:80->0.0.0.0:5"), "unspecified remote"},
		{sp("tcp/198.18.0.1:80->[2001:db8::2]:5"), "family"},
		{sp("tcp/[2001:db8::1]:80->198.18.0.2:5"), "family"},
		{sp("tcp/[2001:db8::1]:80->[::ffff:198.18.0.2]:5"), "family"},
		{sp("udp/0.0.0.0:53", func(s *Spec) { s.Remote = netip.AddrPortFrom(netip.Addr{}, 5) }), "remote port without"},
		{sp("udp/198.18.0.1:53", jail("198.18.0.2")), "not in the jail"},
		{sp("udp/0.0.0.0:53", jail("2001:db8::1")), "family"},
		{sp("udp/[::]:53", jail("198.18.0.1")), "family"},
		{sp("udp/0.0.0.0:53", jail("0.0.0.0")), "unspecified jail"},
	}
	for _, tt := range invalid {
		err := tt.spec.Validate()
		if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("Validate(%v) = %v, want ErrInvalidSpec with %q", tt.spec, err, tt.why)
		}
	}
}

func TestNewTableConfig(t *testing.T) {
	if _, err := NewTable(DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if d.Queues != 1 || d.GroupLimit != 256 || d.Policy != localgroup.Threshold {
		t.Errorf("DefaultConfig() = %+v", d)
	}
	for _, cfg := range []Config{
		{Queues: 0, GroupLimit: 256},
		{Queues: MaxQueues + 1, GroupLimit: 256},
		{Queues: 1, GroupLimit: 0},
		{Queues: 1, GroupLimit: localgroup.MaxLimit + 1},
		{Queues: 1, GroupLimit: 4, Policy: 9},
	} {
		if _, err := NewTable(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewTable(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

type bind struct {
	id   EndpointID
	spec Spec
}

type probe struct {
	flow Flow
	hash uint32
	want EndpointID
}

const (
	c1 = "198.18.1.1:1000" // a client
	c6 = "[2001:db8:1::1]:1000"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name   string
		binds  []bind
		extOff bool
		probes []probe
	}{
		{
			name:   "empty",
			probes: []probe{{fl("udp", c1, "198.18.0.1:53"), 0, 0}},
		},
		{
			name:  "plain wildcard, proto and port must match",
			binds: []bind{{1, sp("udp/0.0.0.0:53")}},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 1},
				{fl("tcp", c1, "198.18.0.1:53"), 0, 0},
				{fl("udp", c1, "198.18.0.1:54"), 0, 0},
				{fl("udp", c6, "[2001:db8::1]:53"), 0, 0}, // IPv4 endpoint, IPv6 packet
			},
		},
		{
			name: "step 1 exact 4-tuple beats groups",
			binds: []bind{
				{1, sp("tcp/198.18.0.1:80", rp)}, {2, sp("tcp/198.18.0.1:80", rp)},
				{3, sp("tcp/198.18.0.1:80->198.18.1.1:1000")},
			},
			probes: []probe{
				{fl("tcp", c1, "198.18.0.1:80"), 0, 3},
				{fl("tcp", "198.18.1.1:1001", "198.18.0.1:80"), 0, 1},
				{fl("tcp", "198.18.1.1:1001", "198.18.0.1:80"), 0xffffffff, 2},
				{fl("udp", c1, "198.18.0.1:80"), 0, 0},
			},
		},
		{
			name: "step 2 address group beats wildcard group",
			binds: []bind{
				{1, sp("udp/0.0.0.0:53", rp)}, {2, sp("udp/0.0.0.0:53", rp)},
				{3, sp("udp/198.18.0.1:53", rp)}, {4, sp("udp/198.18.0.1:53", rp)}, {5, sp("udp/198.18.0.1:53", rp)},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0x00000000, 3},
				{fl("udp", c1, "198.18.0.1:53"), 0x60000000, 4},
				{fl("udp", c1, "198.18.0.1:53"), 0xffffffff, 5},
				{fl("udp", c1, "198.18.0.2:53"), 0x7fffffff, 1},
				{fl("udp", c1, "198.18.0.2:53"), 0x80000000, 2},
			},
		},
		{
			name: "step 3 wildcard group beats plain exact (it has no group)",
			binds: []bind{
				{1, sp("udp/0.0.0.0:53", rp)}, {2, sp("udp/0.0.0.0:53", rp)},
				{3, sp("udp/198.18.0.1:53", rp, jail("198.18.0.1"))},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 1},
				{fl("udp", c1, "198.18.0.1:53"), 0xffffffff, 2},
			},
		},
		{
			name: "v4 and v6 wildcard groups are distinct",
			binds: []bind{
				{1, sp("udp/0.0.0.0:53", rp)}, {2, sp("udp/0.0.0.0:53", rp)},
				{3, sp("udp/[::]:53", rp)}, {4, sp("udp/[::]:53", rp)}, {5, sp("udp/[::]:53", rp)},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0xffffffff, 2},
				{fl("udp", c6, "[2001:db8::1]:53"), 0, 3},
				{fl("udp", c6, "[2001:db8::1]:53"), 0xffffffff, 5},
			},
		},
		{
			name:   "step 4 exact beats wildcard",
			extOff: true,
			binds: []bind{
				{1, sp("udp/0.0.0.0:53", rp)}, {2, sp("udp/198.18.0.1:53", rp)},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 2},
				{fl("udp", c1, "198.18.0.2:53"), 0, 1},
			},
		},
		{
			name:   "jail preference",
			extOff: true,
			binds: []bind{
				{1, sp("udp/0.0.0.0:53", rp)},
				{2, sp("udp/198.18.0.1:53", rp)},
				{3, sp("udp/0.0.0.0:53", rp, jail("198.18.0.1", "198.18.0.3"))},
				{4, sp("udp/0.0.0.0:53", rp, jail("198.18.0.2"))},
				{5, sp("udp/198.18.0.3:53", rp, jail("198.18.0.3"))},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 3}, // jailed wildcard beats plain exact
				{fl("udp", c1, "198.18.0.2:53"), 0, 4},
				{fl("udp", c1, "198.18.0.3:53"), 0, 5}, // jailed exact beats jailed wildcard
				{fl("udp", c1, "198.18.0.4:53"), 0, 1}, // jailed ones only for their addresses
			},
		},
		{
			name: "jailed exact: most recent; jailed wildcard: earliest",
			binds: []bind{
				{1, sp("udp/0.0.0.0:53", rp, jail("198.18.0.1", "198.18.0.2"))},
				{2, sp("udp/0.0.0.0:53", rp, jail("198.18.0.1", "198.18.0.2"))},
				{3, sp("udp/198.18.0.2:53", rp, jail("198.18.0.2"))},
				{4, sp("udp/198.18.0.2:53", rp, jail("198.18.0.2"))},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0xffffffff, 1},
				{fl("udp", c1, "198.18.0.2:53"), 0xffffffff, 4},
			},
		},
		{
			name: "dual-stack: v4 exact, v4 wildcard, then v6 dual-stack wildcard",
			binds: []bind{
				{1, sp("udp/[::]:53", rp, dual)},
				{2, sp("udp/[::]:53", rp, dual)},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 1},
				{fl("udp", c6, "[2001:db8::1]:53"), 0, 1},
			},
		},
		{
			name: "v6-only wildcard takes no IPv4",
			binds: []bind{
				{1, sp("udp/[::]:53")},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 0},
				{fl("udp", c6, "[2001:db8::1]:53"), 0, 1},
			},
		},
		{
			name: "v4 wildcard beats v6 dual-stack wildcard",
			binds: []bind{
				{1, sp("udp/[::]:53", rp, dual)},
				{2, sp("udp/0.0.0.0:53", rp)},
				{3, sp("udp/198.18.0.1:53", rp)},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 3},
				{fl("udp", c1, "198.18.0.2:53"), 0, 2},
				{fl("udp", c6, "[2001:db8::1]:53"), 0, 1},
			},
		},
		{
			name: "v6 dual-stack bound to a v4-mapped address acts as IPv4",
			binds: []bind{
				{1, sp("udp/[::ffff:198.18.0.1]:53", dual, rp)},
				{2, sp("udp/198.18.0.1:53", rp)},
				{3, sp("tcp/[::ffff:198.18.0.1]:80->198.18.1.1:1000", dual)},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 1},
				{fl("udp", c1, "198.18.0.1:53"), 0xffffffff, 2},
				{fl("udp", c6, "[::ffff:198.18.0.1]:53"), 0, 0},
				{fl("tcp", c1, "198.18.0.1:80"), 0, 3},
			},
		},
		{
			name: "ext on: jailed and dual-stack endpoints are not grouped",
			binds: []bind{
				{1, sp("udp/[::]:53", rp, dual)},
				{2, sp("udp/0.0.0.0:53", rp, jail("198.18.0.1"))},
				{3, sp("udp/0.0.0.0:53", rp, jail("198.18.0.1"))},
				{4, sp("udp/198.18.0.2:53", rp)},
				{5, sp("udp/198.18.0.2:53", rp)},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0xffffffff, 2},
				{fl("udp", c1, "198.18.0.2:53"), 0xffffffff, 5},
				{fl("udp", c1, "198.18.0.3:53"), 0xffffffff, 1},
			},
		},
		{
			name: "ext on: a wildcard group takes what jailed endpoints would get",
			binds: []bind{
				{1, sp("udp/0.0.0.0:53", rp, jail("198.18.0.1"))},
				{2, sp("udp/0.0.0.0:53", rp)},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 2},
			},
		},
		{
			name:   "legacy ext off: first wildcard-bound",
			extOff: true,
			binds: []bind{
				{1, sp("udp/0.0.0.0:53", rp)}, {2, sp("udp/0.0.0.0:53", rp)}, {3, sp("udp/0.0.0.0:53", rp)},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 1},
				{fl("udp", c1, "198.18.0.1:53"), 0xffffffff, 1},
			},
		},
		{
			name:   "legacy ext off: last non-wildcard-bound",
			extOff: true,
			binds: []bind{
				{1, sp("udp/0.0.0.0:53", rp)},
				{2, sp("udp/198.18.0.1:53", rp)}, {3, sp("udp/198.18.0.1:53", rp)}, {4, sp("udp/198.18.0.1:53", rp)},
			},
			probes: []probe{
				{fl("udp", c1, "198.18.0.1:53"), 0, 4},
				{fl("udp", c1, "198.18.0.1:53"), 0xffffffff, 4},
				{fl("udp", c1, "198.18.0.2:53"), 0xffffffff, 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable(t, DefaultConfig())
			for _, b := range tt.binds {
				if err := tb.Bind(b.id, b.spec); err != nil {
					t.Fatalf("Bind(%d, %v): %v", b.id, b.spec, err)
				}
			}
			if tt.extOff {
				tb.SetReuseportExt(UDP, false)
				tb.SetReuseportExt(TCP, false)
			}
			for _, p := range tt.probes {
				if got := tb.Lookup(&p.flow, p.hash); got != p.want {
					t.Errorf("Lookup(%v %v:%d -> %v:%d, %#x) = %d, want %d", p.flow.Proto,
						p.flow.Src.Netip(p.flow.Family), p.flow.SrcPort, p.flow.Dst.Netip(p.flow.Family), p.flow.DstPort,
						p.hash, got, p.want)
				}
			}
		})
	}
}

func TestReuseportExtToggle(t *testing.T) {
	tb := newTable(t, DefaultConfig())
	for id := EndpointID(1); id <= 4; id++ {
		if err := tb.Bind(id, sp("udp/0.0.0.0:53", rp)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tb.Bind(5, sp("tcp/0.0.0.0:53", rp)); err != nil {
		t.Fatal(err)
	}
	f := fl("udp", c1, "198.18.0.1:53")
	spread := func() []EndpointID {
		var got []EndpointID
		for _, h := range []uint32{0, 0x40000000, 0x80000000, 0xc0000000} {
			got = append(got, tb.Lookup(&f, h))
		}
		return got
	}
	if got := spread(); !slices.Equal(got, []EndpointID{1, 2, 3, 4}) {
		t.Fatalf("ext on: %v", got)
	}
	tb.SetReuseportExt(UDP, false)
	if tb.ReuseportExt(UDP) || !tb.ReuseportExt(TCP) || tb.ReuseportExt(Proto(1)) {
		t.Fatal("ReuseportExt does not reflect the per-protocol switch")
	}
	if got := spread(); !slices.Equal(got, []EndpointID{1, 1, 1, 1}) {
		t.Fatalf("ext off: %v", got)
	}
	// Binds and unbinds while off still maintain the groups.
	if err := tb.Unbind(1); err != nil {
		t.Fatal(err)
	}
	if got := spread(); !slices.Equal(got, []EndpointID{2, 2, 2, 2}) {
		t.Fatalf("ext off after unbind: %v", got)
	}
	tb.SetReuseportExt(UDP, true)
	if got := spread(); !slices.Equal(got, []EndpointID{2, 2, 3, 4}) {
		t.Fatalf("ext back on: %v", got)
	}
}

func TestBindRules(t *testing.T) {
	tests := []struct {
		name    string
		first   []Spec
		spec    Spec
		wantErr error
	}{
		{"same addr", []Spec{sp("udp/198.18.0.1:53")}, sp("udp/198.18.0.1:53"), ErrAddrInUse},
		{"wildcard over addr", []Spec{sp("udp/198.18.0.1:53")}, sp("udp/0.0.0.0:53"), ErrAddrInUse},
		{"addr under wildcard", []Spec{sp("udp/0.0.0.0:53")}, sp("udp/198.18.0.1:53"), ErrAddrInUse},
		{"different addrs", []Spec{sp("udp/198.18.0.1:53")}, sp("udp/198.18.0.2:53"), nil},
		{"different ports", []Spec{sp("udp/0.0.0.0:53")}, sp("udp/0.0.0.0:54"), nil},
		{"udp and tcp", []Spec{sp("udp/0.0.0.0:53")}, sp("tcp/0.0.0.0:53"), nil},
		{"both reuseport, same owner", []Spec{sp("udp/0.0.0.0:53", rp)}, sp("udp/0.0.0.0:53", rp), nil},
		{"reuseport addr under reuseport wildcard", []Spec{sp("udp/0.0.0.0:53", rp)}, sp("udp/198.18.0.1:53", rp), nil},
		{"only new reuseport", []Spec{sp("udp/0.0.0.0:53")}, sp("udp/0.0.0.0:53", rp), ErrAddrInUse},
		{"only old reuseport", []Spec{sp("udp/0.0.0.0:53", rp)}, sp("udp/0.0.0.0:53"), ErrAddrInUse},
		{"other owner never joins", []Spec{sp("udp/0.0.0.0:53", rp)}, sp("udp/0.0.0.0:53", rp, own("b")), ErrAddrInUse},
		{"other owner, addr under wildcard", []Spec{sp("udp/0.0.0.0:53", rp)}, sp("udp/198.18.0.1:53", rp, own("b")), ErrAddrInUse},
		{"other owner among same-owner members", []Spec{sp("udp/198.18.0.1:53", rp), sp("udp/198.18.0.2:53", rp, own("b"))}, sp("udp/0.0.0.0:53", rp), ErrAddrInUse},
		{"v4 and v6-only", []Spec{sp("udp/0.0.0.0:53")}, sp("udp/[::]:53"), nil},
		{"v6-only and v4", []Spec{sp("udp/[::]:53")}, sp("udp/0.0.0.0:53"), nil},
		{"v6 wildcard over v6 addr", []Spec{sp("udp/[2001:db8::1]:53")}, sp("udp/[::]:53"), ErrAddrInUse},
		{"dual-stack over v4 wildcard", []Spec{sp("udp/0.0.0.0:53")}, sp("udp/[::]:53", dual), ErrAddrInUse},
		{"dual-stack over v4 addr", []Spec{sp("udp/198.18.0.1:53")}, sp("udp/[::]:53", dual), ErrAddrInUse},
		{"v4 addr under dual-stack", []Spec{sp("udp/[::]:53", dual)}, sp("udp/198.18.0.1:53"), ErrAddrInUse},
		{"v4 under dual-stack, reuseport", []Spec{sp("udp/[::]:53", dual, rp)}, sp("udp/198.18.0.1:53", rp), nil},
		{"dual-stack over v6-only", []Spec{sp("udp/[::]:53")}, sp("udp/[::]:53", dual), ErrAddrInUse},
		{"mapped addr over v4 addr", []Spec{sp("udp/198.18.0.1:53")}, sp("udp/[::ffff:198.18.0.1]:53", dual), ErrAddrInUse},
		{"mapped addr and v6 wildcard", []Spec{sp("udp/[::]:53")}, sp("udp/[::ffff:198.18.0.1]:53", dual), nil},
		{"jailed still conflicts", []Spec{sp("udp/0.0.0.0:53")}, sp("udp/0.0.0.0:53", jail("198.18.0.1")), ErrAddrInUse},
		{"connected vs listener", []Spec{sp("tcp/0.0.0.0:80")}, sp("tcp/198.18.0.1:80->198.18.1.1:1000"), nil},
		{"listener vs connected", []Spec{sp("tcp/198.18.0.1:80->198.18.1.1:1000")}, sp("tcp/198.18.0.1:80"), nil},
		{"same 4-tuple", []Spec{sp("tcp/198.18.0.1:80->198.18.1.1:1000")}, sp("tcp/198.18.0.1:80->198.18.1.1:1000"), ErrAddrInUse},
		{"same 4-tuple, reuseport", []Spec{sp("tcp/198.18.0.1:80->198.18.1.1:1000", rp)}, sp("tcp/198.18.0.1:80->198.18.1.1:1000", rp), ErrAddrInUse},
		{"other remote port", []Spec{sp("tcp/198.18.0.1:80->198.18.1.1:1000")}, sp("tcp/198.18.0.1:80->198.18.1.1:1001"), nil},
		{"invalid spec", nil, sp("udp/0.0.0.0:0"), ErrInvalidSpec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable(t, DefaultConfig())
			for i, s := range tt.first {
				if err := tb.Bind(EndpointID(i+1), s); err != nil {
					t.Fatalf("Bind(%v): %v", s, err)
				}
			}
			before := snapshot(tb)
			err := tb.Bind(100, tt.spec)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Bind(%v) = %v, want nil", tt.spec, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Bind(%v) = %v, want %v", tt.spec, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.spec.String()) {
				t.Errorf("error %q does not name the spec", err)
			}
			if tt.wantErr == ErrAddrInUse && !strings.Contains(err.Error(), "by endpoint") {
				t.Errorf("error %q does not name the existing binding", err)
			}
			if after := snapshot(tb); after != before {
				t.Errorf("failed Bind changed the table:\n%s\n%s", before, after)
			}
		})
	}
}

// snapshot renders the lookups of a fixed set of flows and the table size.
func snapshot(tb *Table) string {
	var b strings.Builder
	for _, proto := range []string{"udp", "tcp"} {
		for _, dst := range []string{"198.18.0.1", "198.18.0.2", "[2001:db8::1]", "[::ffff:198.18.0.1]"} {
			for _, port := range []string{"53", "80"} {
				f := fl(proto, "198.18.1.1:1000", dst+":"+port)
				if strings.HasPrefix(dst, "[") {
					f = fl(proto, c6, dst+":"+port)
				}
				for _, h := range []uint32{0, 0x55555555, 0xffffffff} {
					b.WriteString(string(rune('0' + tb.Lookup(&f, h))))
				}
			}
		}
	}
	b.WriteString(" len=")
	b.WriteString(string(rune('0' + tb.Len())))
	return b.String()
}

func TestBindIDs(t *testing.T) {
	tb := newTable(t, DefaultConfig())
	if err := tb.Bind(0, sp("udp/0.0.0.0:53")); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Bind(0) = %v, want ErrInvalidID", err)
	}
	if err := tb.Bind(1, sp("udp/0.0.0.0:53")); err != nil {
		t.Fatal(err)
	}
	if err := tb.Bind(1, sp("udp/0.0.0.0:54")); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Bind(1) twice = %v, want ErrInvalidID", err)
	}
	if err := tb.Unbind(2); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unbind(2) = %v, want ErrNotFound", err)
	}
	if err := tb.Unbind(1); err != nil {
		t.Fatal(err)
	}
	if err := tb.Unbind(1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unbind(1) twice = %v, want ErrNotFound", err)
	}
	if tb.Len() != 0 {
		t.Errorf("Len = %d", tb.Len())
	}
}

func TestGroupFull(t *testing.T) {
	for _, limit := range []int{2, 256} {
		cfg := DefaultConfig()
		cfg.GroupLimit = limit
		tb := newTable(t, cfg)
		for i := range limit {
			if err := tb.Bind(EndpointID(i+1), sp("udp/0.0.0.0:53", rp)); err != nil {
				t.Fatal(err)
			}
		}
		err := tb.Bind(EndpointID(limit+1), sp("udp/0.0.0.0:53", rp))
		if !errors.Is(err, ErrGroupFull) || !errors.Is(err, localgroup.ErrGroupFull) {
			t.Fatalf("limit %d: Bind = %v, want ErrGroupFull", limit, err)
		}
		for _, want := range []string{"udp/0.0.0.0:53", "limit " + itoa(limit)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if tb.Len() != limit {
			t.Errorf("Len = %d after failed bind", tb.Len())
		}
		// Another address of the port is another group.
		if err := tb.Bind(EndpointID(limit+2), sp("udp/198.18.0.1:53", rp)); err != nil {
			t.Errorf("Bind into another group: %v", err)
		}
		// Leaving frees a slot.
		if err := tb.Unbind(1); err != nil {
			t.Fatal(err)
		}
		if err := tb.Bind(EndpointID(limit+3), sp("udp/0.0.0.0:53", rp)); err != nil {
			t.Errorf("Bind after Unbind: %v", err)
		}
	}
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func TestGroupMembersAndUnbindShift(t *testing.T) {
	tb := newTable(t, DefaultConfig())
	for id := EndpointID(1); id <= 4; id++ {
		if err := tb.Bind(id, sp("udp/0.0.0.0:53", rp)); err != nil {
			t.Fatal(err)
		}
	}
	tb.Bind(9, sp("udp/[::]:53"))
	if got := tb.GroupMembers(3); !slices.Equal(got, []EndpointID{1, 2, 3, 4}) {
		t.Errorf("GroupMembers = %v", got)
	}
	if got := tb.GroupMembers(9); got != nil {
		t.Errorf("GroupMembers(ungrouped) = %v, want nil", got)
	}
	if got := tb.GroupMembers(77); got != nil {
		t.Errorf("GroupMembers(unknown) = %v, want nil", got)
	}
	tb.Unbind(2)
	if got := tb.GroupMembers(1); !slices.Equal(got, []EndpointID{1, 3, 4}) {
		t.Errorf("GroupMembers after Unbind = %v", got)
	}
	f := fl("udp", c1, "198.18.0.1:53")
	// n=3, threshold: 0xaaaaaaab*3>>32 = 2, 0x55555556*3>>32 = 1.
	if got := tb.Lookup(&f, 0x55555556); got != 3 {
		t.Errorf("Lookup after shift-down = %d, want 3", got)
	}
	if got := tb.Lookup(&f, 0xaaaaaaab); got != 4 {
		t.Errorf("Lookup after shift-down = %d, want 4", got)
	}
	s, ok := tb.Spec(3)
	if !ok || s.String() != "udp/0.0.0.0:53" || !s.ReusePort {
		t.Errorf("Spec(3) = %v, %v", s, ok)
	}
	if _, ok := tb.Spec(2); ok {
		t.Error("Spec of an unbound endpoint found")
	}
	if got := tb.IDs(); !slices.Equal(got, []EndpointID{1, 3, 4, 9}) {
		t.Errorf("IDs = %v", got)
	}
}

func TestPolicyAndQueues(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Queues = 4 // s = 2
	tb := newTable(t, cfg)
	for id := EndpointID(1); id <= 3; id++ {
		tb.Bind(id, sp("udp/0.0.0.0:53", rp))
	}
	f := fl("udp", c1, "198.18.0.1:53")
	// threshold s=2: u=hash>>2; (u*3)>>30. hash 0x80000000: u=0x20000000 -> 0x60000000>>30 = 1.
	if got := tb.Lookup(&f, 0x80000000); got != 2 {
		t.Errorf("threshold = %d, want 2", got)
	}
	if err := tb.Apply(Change{Op: OpSetPolicy, Policy: localgroup.Modulo}); err != nil {
		t.Fatal(err)
	}
	// modulo s=2: (40>>2)%3 = 10%3 = 1.
	if got := tb.Lookup(&f, 40); got != 2 {
		t.Errorf("modulo = %d, want 2", got)
	}
	tb.Bind(4, sp("udp/0.0.0.0:53", rp)) // new groups and members follow the policy
	if got := tb.Lookup(&f, 40); got != 3 {
		t.Errorf("modulo n=4 = %d, want 3", got)
	}
	if tb.Policy() != localgroup.Modulo {
		t.Errorf("Policy = %v", tb.Policy())
	}
	if err := tb.Apply(Change{Op: 42}); !errors.Is(err, ErrInvalidChange) {
		t.Errorf("Apply(op 42) = %v", err)
	}
	if err := tb.Apply(Change{Op: OpSetPolicy, Policy: 7}); !errors.Is(err, ErrInvalidChange) {
		t.Errorf("Apply(policy 7) = %v", err)
	}
}

func TestCloneIndependent(t *testing.T) {
	tb := newTable(t, DefaultConfig())
	for id := EndpointID(1); id <= 4; id++ {
		tb.Bind(id, sp("udp/0.0.0.0:53", rp))
	}
	tb.Bind(5, sp("tcp/198.18.0.1:80->198.18.1.1:1000"))
	c := tb.Clone()
	before := snapshot(c)
	tb.Unbind(2)
	tb.Unbind(5)
	tb.Bind(6, sp("udp/198.18.0.1:53", rp))
	tb.SetPolicy(localgroup.Maglev)
	tb.SetReuseportExt(UDP, false)
	if after := snapshot(c); after != before {
		t.Errorf("clone changed with the original:\n%s\n%s", before, after)
	}
	if c.Len() != 5 || c.Policy() != localgroup.Threshold || !c.ReuseportExt(UDP) {
		t.Error("clone state changed")
	}
}

func TestLookupAllocs(t *testing.T) {
	tb := benchTable(t, 100, 10)
	tb.Bind(100000, sp("udp/198.18.0.1:9->198.18.1.1:1000"))
	flows := []Flow{
		fl("udp", c1, "198.18.0.1:9"),
		fl("udp", "198.18.1.1:1001", "198.18.0.1:9"),
		fl("udp", c1, "198.18.0.1:1"),
		fl("udp", c1, "198.18.0.1:10000"),
		fl("udp", c6, "[2001:db8::1]:9"),
	}
	quicPkt := []byte{0x40, 0x00, 0x00, 0x03, 1, 2, 3, 4, 5, 6, 7, 8}
	for _, pol := range []localgroup.Policy{localgroup.Threshold, localgroup.Modulo, localgroup.Maglev, localgroup.QUIC} {
		tb.SetPolicy(pol)
		for _, ext := range []bool{true, false} {
			tb.SetReuseportExt(UDP, ext)
			for i := range flows {
				h := uint32(0)
				allocs := testing.AllocsPerRun(200, func() {
					h += 0x9e3779b9
					tb.Lookup(&flows[i], h)
					tb.LookupPacket(&flows[i], h, quicPkt)
				})
				if allocs != 0 {
					t.Errorf("%v ext=%v flow %d: %v allocs, want 0", pol, ext, i, allocs)
				}
			}
		}
	}
}

// benchTable binds groups*per endpoints: group g is udp/0.0.0.0:(g+1) with
// per reuseport members, plus a few connected endpoints and plain listeners
// elsewhere.
func benchTable(tb testing.TB, groups, per int) *Table {
	t := newTable(tb, Config{Queues: 4, GroupLimit: 256})
	id := EndpointID(1)
	for g := range groups {
		for range per {
			s := sp("udp/0.0.0.0:1", rp)
			s.Local = netip.AddrPortFrom(s.Local.Addr(), uint16(g+1))
			if err := t.Bind(id, s); err != nil {
				tb.Fatal(err)
			}
			id++
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		s := sp("tcp/198.18.0.1:80->198.18.1.1:1")
		s.Remote = netip.AddrPortFrom(s.Remote.Addr(), uint16(rng.IntN(60000)+1))
		t.Bind(id, s)
		id++
	}
	return t
}

var sinkID EndpointID

// BenchmarkLookupGroupHit: 1,000 endpoints in 100 groups; exact-table miss,
// then a group hit.
func BenchmarkLookupGroupHit(b *testing.B) {
	for _, pol := range []localgroup.Policy{localgroup.Threshold, localgroup.Modulo, localgroup.Maglev} {
		b.Run(pol.String(), func(b *testing.B) {
			tb := benchTable(b, 100, 10)
			tb.SetPolicy(pol)
			// one connected endpoint on each group's port, so that step 1
			// really searches and misses.
			for g := range 100 {
				s := sp("udp/198.18.0.9:1->198.18.1.9:9")
				s.Local = netip.AddrPortFrom(s.Local.Addr(), uint16(g+1))
				if err := tb.Bind(EndpointID(50000+g), s); err != nil {
					b.Fatal(err)
				}
			}
			flows := make([]Flow, 1024)
			hashes := make([]uint32, 1024)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range flows {
				flows[i] = fl("udp", c1, "198.18.0.1:1")
				flows[i].SrcPort = uint16(rng.IntN(60000) + 1)
				flows[i].DstPort = uint16(rng.IntN(100) + 1)
				hashes[i] = rng.Uint32()
			}
			b.ReportAllocs()
			var s EndpointID
			for i := 0; b.Loop(); i++ {
				s += tb.Lookup(&flows[i&1023], hashes[i&1023])
			}
			sinkID = s
		})
	}
}

// BenchmarkLookupGroupHitNoConn: as above without connected endpoints on
// the group ports.
func BenchmarkLookupGroupHitNoConn(b *testing.B) {
	tb := benchTable(b, 100, 10)
	flows := make([]Flow, 1024)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range flows {
		flows[i] = fl("udp", c1, "198.18.0.1:1")
		flows[i].DstPort = uint16(rng.IntN(100) + 1)
	}
	b.ReportAllocs()
	var s EndpointID
	for i := 0; b.Loop(); i++ {
		s += tb.Lookup(&flows[i&1023], uint32(i)*0x9e3779b9)
	}
	sinkID = s
}

func BenchmarkLookupExact(b *testing.B) {
	tb := benchTable(b, 100, 10)
	tb.Bind(99999, sp("udp/198.18.0.1:1->198.18.1.1:1000"))
	f := fl("udp", c1, "198.18.0.1:1")
	b.ReportAllocs()
	var s EndpointID
	for i := 0; b.Loop(); i++ {
		s += tb.Lookup(&f, uint32(i))
	}
	sinkID = s
}

func BenchmarkLookupWildcardTable(b *testing.B) {
	tb := newTable(b, DefaultConfig())
	for i := range 8 {
		tb.Bind(EndpointID(i+1), sp("udp/198.18.0."+itoa(i+1)+":53"))
	}
	tb.Bind(100, sp("udp/0.0.0.0:53"))
	f := fl("udp", c1, "198.18.0.200:53")
	b.ReportAllocs()
	var s EndpointID
	for i := 0; b.Loop(); i++ {
		s += tb.Lookup(&f, uint32(i))
	}
	sinkID = s
}

func BenchmarkLookupMiss(b *testing.B) {
	tb := benchTable(b, 100, 10)
	f := fl("udp", c1, "198.18.0.1:9999")
	b.ReportAllocs()
	var s EndpointID
	for i := 0; b.Loop(); i++ {
		s += tb.Lookup(&f, uint32(i))
	}
	sinkID = s
}

func BenchmarkClone(b *testing.B) {
	tb := benchTable(b, 100, 10)
	b.ReportAllocs()
	for b.Loop() {
		tb.Clone()
	}
}
