package dataplane

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// testLocal are the local addresses of the in-memory labs that check
// addresses: two IPv4, one IPv6 and both loopbacks.
var testLocal = []netip.Addr{
	netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"),
	netip.MustParseAddr("2001:2::1"),
	netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"),
}

func TestBindLocalAddress(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		spec     pcb.Spec
		notAvail bool
	}{
		{"local v4", Config{LocalAddrs: testLocal}, udpSpec("198.18.0.2:5000", false), false},
		{"local v6", Config{LocalAddrs: testLocal}, udpSpec("[2001:2::1]:5000", false), false},
		{"loopback is local", Config{LocalAddrs: testLocal}, udpSpec("127.0.0.1:5000", false), false},
		{"wildcard v4", Config{LocalAddrs: testLocal}, udpSpec("0.0.0.0:5000", false), false},
		{"wildcard v6", Config{LocalAddrs: testLocal}, tcpSpec("[::]:5000", false), false},
		{"v4-mapped local", Config{LocalAddrs: testLocal},
			pcb.Spec{Proto: pcb.UDP, Local: netip.MustParseAddrPort("[::ffff:198.18.0.1]:5000"), DualStack: true, Owner: testOwner}, false},
		{"non-local v4", Config{LocalAddrs: testLocal}, udpSpec("198.18.0.9:5000", false), true},
		{"non-local v6", Config{LocalAddrs: testLocal}, tcpSpec("[2001:2::9]:5000", false), true},
		{"non-local v4-mapped", Config{LocalAddrs: testLocal},
			pcb.Spec{Proto: pcb.UDP, Local: netip.MustParseAddrPort("[::ffff:198.18.0.9]:5000"), DualStack: true, Owner: testOwner}, true},
		{"connected, non-local", Config{LocalAddrs: testLocal},
			pcb.Spec{Proto: pcb.UDP, Local: netip.MustParseAddrPort("198.18.0.9:5000"), Remote: netip.MustParseAddrPort("198.19.0.1:53"), Owner: testOwner}, true},
		{"AllowNonlocal", Config{LocalAddrs: testLocal, AllowNonlocal: true}, udpSpec("198.18.0.9:5000", false), false},
		{"claimer, no addresses", Config{Claimer: &fakeClaimer{}}, udpSpec("198.18.0.1:5000", false), true},
		{"no addresses, no claimer: unchecked", Config{}, udpSpec("198.18.0.9:5000", false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, tt.cfg)
			_, err := l.d.Bind(tt.spec, EndpointOptions{})
			if !tt.notAvail {
				if err != nil {
					t.Fatalf("bind %s: %v", tt.spec, err)
				}
				return
			}
			if !errors.Is(err, syscall.EADDRNOTAVAIL) || !errors.Is(err, ErrAddrNotAvail) {
				t.Fatalf("bind %s: got %v, want EADDRNOTAVAIL", tt.spec, err)
			}
			if !strings.Contains(err.Error(), tt.spec.String()) {
				t.Errorf("error %q does not name the spec", err)
			}
			if len(l.d.Claims()) != 0 {
				t.Errorf("refused bind left claims %v", l.d.Claims())
			}
		})
	}
}

func claimStrings(cs []Claim) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = claimKey{c.Proto, c.Addr, c.Port}.String()
	}
	return out
}

func TestWildcardClaims(t *testing.T) {
	jailed := udpSpec("0.0.0.0:5006", false)
	jailed.Jail = []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.77")}
	tests := []struct {
		name string
		spec pcb.Spec
		want []string
	}{
		{"0.0.0.0: IPv4 but loopback", udpSpec("0.0.0.0:5001", false), []string{"udp/198.18.0.1:5001", "udp/198.18.0.2:5001"}},
		{"[::]: IPv6 but loopback", tcpSpec("[::]:5002", false), []string{"tcp/[2001:2::1]:5002"}},
		{"[::] dual-stack: both", pcb.Spec{Proto: pcb.UDP, Local: netip.MustParseAddrPort("[::]:5003"), DualStack: true, Owner: testOwner},
			[]string{"udp/198.18.0.1:5003", "udp/198.18.0.2:5003", "udp/[2001:2::1]:5003"}},
		{"specific", udpSpec("198.18.0.2:5004", false), []string{"udp/198.18.0.2:5004"}},
		{"specific loopback", udpSpec("127.0.0.1:5005", false), []string{"udp/127.0.0.1:5005"}},
		{"jailed wildcard: local jail addresses", jailed, []string{"udp/198.18.0.2:5006"}},
		{"v4-mapped: unmapped", pcb.Spec{Proto: pcb.TCP, Local: netip.MustParseAddrPort("[::ffff:198.18.0.1]:5007"), DualStack: true, Owner: testOwner},
			[]string{"tcp/198.18.0.1:5007"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeClaimer{}
			l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{Claimer: c, LocalAddrs: testLocal})
			ep := l.bind(tt.spec, EndpointOptions{})
			if got := claimStrings(l.d.Claims()); !slices.Equal(got, tt.want) {
				t.Errorf("claims %q, want %q", got, tt.want)
			}
			if got := len(c.takeLog()); got != len(tt.want) {
				t.Errorf("claimer told %d claims, want %d", got, len(tt.want))
			}
			if err := ep.Close(); err != nil {
				t.Fatal(err)
			}
			if got := l.d.Claims(); len(got) != 0 {
				t.Errorf("after close: claims %v", got)
			}
			if got := len(c.takeLog()); got != len(tt.want) {
				t.Errorf("claimer told %d unclaims, want %d", got, len(tt.want))
			}
		})
	}
}

// TestSetLocalAddrs follows address changes: wildcard endpoints gain and
// lose claims, specific ones keep theirs, shared claims are refcounted, new
// claims are made before old ones are dropped, and nothing is told twice.
func TestSetLocalAddrs(t *testing.T) {
	c := &fakeClaimer{}
	a1, a2, a3 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")
	v6 := netip.MustParseAddr("2001:2::1")
	l := newLab(t, 2, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{Claimer: c, LocalAddrs: []netip.Addr{a1}})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	wild := l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{})
	wild2 := l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{})
	spec1 := l.bind(tcpSpec("198.18.0.1:80", false), EndpointOptions{})
	v6wild := l.bind(udpSpec("[::]:53", false), EndpointOptions{})
	if got, want := c.takeLog(), []string{"claim 17/198.18.0.1:53", "claim 6/198.18.0.1:80"}; !slices.Equal(got, want) {
		t.Errorf("binds: claimer log %q, want %q", got, want)
	}

	steps := []struct {
		addrs []netip.Addr
		log   []string
		now   []string // Claims afterwards
	}{
		{[]netip.Addr{a1, a2}, []string{"claim 17/198.18.0.2:53"},
			[]string{"tcp/198.18.0.1:80", "udp/198.18.0.1:53", "udp/198.18.0.2:53"}},
		// a1 goes: the wildcard's claim on it goes, the specific one stays.
		{[]netip.Addr{a2, a3, v6}, []string{"claim 17/198.18.0.3:53", "claim 17/[2001:2::1]:53", "unclaim 17/198.18.0.1:53"},
			[]string{"tcp/198.18.0.1:80", "udp/198.18.0.2:53", "udp/198.18.0.3:53", "udp/[2001:2::1]:53"}},
		{[]netip.Addr{v6, a3, a2, a2, netip.AddrFrom16(a3.As16()), {}}, nil, // same set, unnormalized
			[]string{"tcp/198.18.0.1:80", "udp/198.18.0.2:53", "udp/198.18.0.3:53", "udp/[2001:2::1]:53"}},
		{nil, []string{"unclaim 17/198.18.0.2:53", "unclaim 17/198.18.0.3:53", "unclaim 17/[2001:2::1]:53"},
			[]string{"tcp/198.18.0.1:80"}},
		{[]netip.Addr{a1}, []string{"claim 17/198.18.0.1:53"}, []string{"tcp/198.18.0.1:80", "udp/198.18.0.1:53"}},
	}
	for i, st := range steps {
		if err := l.d.SetLocalAddrs(st.addrs); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := c.takeLog()
		// The order among new claims follows the endpoints' IDs; compare
		// claims and unclaims as sets but check claims come first.
		if !sameSet(got, st.log) {
			t.Errorf("step %d: claimer log %q, want %q", i, got, st.log)
		}
		if k := slices.IndexFunc(got, func(s string) bool { return strings.HasPrefix(s, "unclaim") }); k >= 0 &&
			slices.ContainsFunc(got[k:], func(s string) bool { return strings.HasPrefix(s, "claim") }) {
			t.Errorf("step %d: a claim after an unclaim: %q", i, got)
		}
		if now := claimStrings(l.d.Claims()); !slices.Equal(now, st.now) {
			t.Errorf("step %d: claims %q, want %q", i, now, st.now)
		}
	}
	// The two group members share their claim: it goes with the last.
	wild.Close()
	if got := c.takeLog(); len(got) != 0 {
		t.Errorf("first member's close: %q, want nothing", got)
	}
	wild2.Close()
	if got, want := c.takeLog(), []string{"unclaim 17/198.18.0.1:53"}; !slices.Equal(got, want) {
		t.Errorf("last member's close: %q, want %q", got, want)
	}
	spec1.Close()
	v6wild.Close()
	if got := l.d.Claims(); len(got) != 0 {
		t.Errorf("all closed: claims %v", got)
	}
	if got, want := l.d.LocalAddrs(), []netip.Addr{a1}; !slices.Equal(got, want) {
		t.Errorf("LocalAddrs %v, want %v", got, want)
	}
	l.d.Close()
	if err := l.d.SetLocalAddrs(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v, want ErrClosed", err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestSetLocalAddrsTurnsChecksOn: a Dataplane built without addresses
// checks them once told its addresses.
func TestSetLocalAddrsTurnsChecksOn(t *testing.T) {
	l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{})
	l.bind(udpSpec("198.18.0.9:5000", false), EndpointOptions{})
	if err := l.d.SetLocalAddrs(testLocal); err != nil {
		t.Fatal(err)
	}
	if _, err := l.d.Bind(udpSpec("198.18.0.9:5001", false), EndpointOptions{}); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("got %v, want EADDRNOTAVAIL", err)
	}
}

// TestClaimFailureUndoes: when the Claimer refuses one address of a
// wildcard, the bind fails and the addresses claimed before are released.
func TestClaimFailureUndoes(t *testing.T) {
	c := &failingClaimer{fail: netip.MustParseAddr("198.18.0.2")}
	l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{Claimer: c, LocalAddrs: testLocal})
	if _, err := l.d.Bind(udpSpec("0.0.0.0:5000", false), EndpointOptions{}); err == nil || !strings.Contains(err.Error(), "198.18.0.2") {
		t.Fatalf("got %v, want a claim error naming 198.18.0.2", err)
	}
	if got, want := c.log, []string{"claim 198.18.0.1", "unclaim 198.18.0.1"}; !slices.Equal(got, want) {
		t.Errorf("claimer log %q, want %q", got, want)
	}
	if len(l.d.Claims()) != 0 || len(l.d.Stats().Endpoints) != 0 {
		t.Errorf("failed bind left claims %v or endpoints", l.d.Claims())
	}
	// The port is free again.
	l.bind(udpSpec("198.18.0.1:5000", false), EndpointOptions{})
}

type failingClaimer struct {
	fail netip.Addr
	log  []string
}

func (c *failingClaimer) Claim(_ uint8, addr netip.Addr, _ uint16) error {
	if addr == c.fail {
		return errors.New("map full")
	}
	c.log = append(c.log, "claim "+addr.String())
	return nil
}

func (c *failingClaimer) Unclaim(_ uint8, addr netip.Addr, _ uint16) error {
	c.log = append(c.log, "unclaim "+addr.String())
	return nil
}
