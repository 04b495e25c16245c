package dataplane

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

func TestParseAllowRule(t *testing.T) {
	tests := []struct {
		in   string
		want AllowRule
		err  string // substring of the error; "" = must parse
	}{
		{"uid=1000,ports=5000-5999", AllowRule{UID: 1000, FirstPort: 5000, LastPort: 5999}, ""},
		{"uid=1000,ports=8080", AllowRule{UID: 1000, FirstPort: 8080, LastPort: 8080}, ""},
		{"uid=65534,ports=53,proto=udp", AllowRule{UID: 65534, Proto: pcb.UDP, FirstPort: 53, LastPort: 53}, ""},
		{"proto=TCP,ports=1-65535,uid=0", AllowRule{UID: 0, Proto: pcb.TCP, FirstPort: 1, LastPort: 65535}, ""},
		{" uid=7 , ports=10-10 ", AllowRule{UID: 7, FirstPort: 10, LastPort: 10}, ""},
		{"", AllowRule{}, "not key=value"},
		{"uid=1000", AllowRule{}, "no ports"},
		{"ports=80", AllowRule{}, "no uid"},
		{"uid=-1,ports=80", AllowRule{}, "uid"},
		{"uid=4294967296,ports=80", AllowRule{}, "uid"},
		{"uid=bob,ports=80", AllowRule{}, "not a number"},
		{"uid=1,uid=2,ports=80", AllowRule{}, "uid given twice"},
		{"uid=1,ports=80,ports=81", AllowRule{}, "ports given twice"},
		{"uid=1,ports=0", AllowRule{}, "ports"},
		{"uid=1,ports=65536", AllowRule{}, "ports"},
		{"uid=1,ports=6000-5000", AllowRule{}, "first port above last"},
		{"uid=1,ports=5000-", AllowRule{}, "ports"},
		{"uid=1,ports=-5000", AllowRule{}, "ports"},
		{"uid=1,ports=80,proto=sctp", AllowRule{}, "proto"},
		{"uid=1,ports=80,proto=udp,proto=tcp", AllowRule{}, "proto given twice"},
		{"uid=1,ports=80,host=x", AllowRule{}, "unknown key"},
		{"uid=1;ports=80", AllowRule{}, "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAllowRule(tt.in)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("got error %v", err)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				back, err := ParseAllowRule(got.String())
				if err != nil || back != got {
					t.Errorf("String %q parses to %+v, %v", got.String(), back, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %+v, want an error containing %q", got, tt.err)
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %q: want ErrInvalidConfig containing %q", err, tt.err)
			}
		})
	}
}

func mustRules(t *testing.T, rules ...string) []AllowRule {
	t.Helper()
	out := make([]AllowRule, len(rules))
	for i, r := range rules {
		var err error
		if out[i], err = ParseAllowRule(r); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestAuthorize(t *testing.T) {
	nobody := Cred{UID: 65534}
	nobodyCap := Cred{UID: 65534, CapNetBindService: true}
	root := Cred{UID: 0}
	confined := mustRules(t, "uid=1000,ports=5000-5999", "uid=1000,ports=53,proto=udp", "uid=65534,ports=8080")
	tests := []struct {
		name   string
		policy AccessPolicy
		spec   pcb.Spec
		cred   Cred
		ok     bool
		msg    []string // in the refusal
	}{
		{"privileged port, no capability", AccessPolicy{UnprivilegedPortStart: 1024}, udpSpec("0.0.0.0:53", false), nobody, false,
			[]string{"udp/0.0.0.0:53", "uid 65534", "ip_unprivileged_port_start 1024", "CAP_NET_BIND_SERVICE"}},
		{"privileged tcp port", AccessPolicy{UnprivilegedPortStart: 1024}, tcpSpec("0.0.0.0:22", false), nobody, false, []string{"tcp/0.0.0.0:22"}},
		{"last privileged port", AccessPolicy{UnprivilegedPortStart: 1024}, udpSpec("198.18.0.1:1023", false), nobody, false, nil},
		{"first unprivileged port", AccessPolicy{UnprivilegedPortStart: 1024}, udpSpec("0.0.0.0:1024", false), nobody, true, nil},
		{"with CAP_NET_BIND_SERVICE", AccessPolicy{UnprivilegedPortStart: 1024}, udpSpec("0.0.0.0:53", false), nobodyCap, true, nil},
		{"uid 0", AccessPolicy{UnprivilegedPortStart: 1024}, tcpSpec("[::]:22", false), root, true, nil},
		{"sysctl raised", AccessPolicy{UnprivilegedPortStart: 3000}, udpSpec("0.0.0.0:2500", false), nobody, false, []string{"3000"}},
		{"sysctl 0: every port", AccessPolicy{UnprivilegedPortStart: -1}, udpSpec("0.0.0.0:1", false), nobody, true, nil},

		{"rule: inside range", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, udpSpec("0.0.0.0:5999", false), Cred{UID: 1000}, true, nil},
		{"rule: tcp inside range", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, tcpSpec("0.0.0.0:5000", false), Cred{UID: 1000}, true, nil},
		{"rule: outside range", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, udpSpec("0.0.0.0:6000", false), Cred{UID: 1000}, false,
			[]string{"udp/0.0.0.0:6000", "uid 1000", "no allow rule", "3 rules"}},
		{"rule: below range", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, udpSpec("0.0.0.0:4999", false), Cred{UID: 1000}, false, nil},
		{"rule: privileged port opened", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, udpSpec("0.0.0.0:53", false), Cred{UID: 1000}, true, nil},
		{"rule: proto udp only", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, tcpSpec("0.0.0.0:53", false), Cred{UID: 1000}, false, []string{"tcp/0.0.0.0:53"}},
		{"rule: other uid's range", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, udpSpec("0.0.0.0:5000", false), nobody, false, []string{"uid 65534"}},
		{"rule: own single port", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, tcpSpec("0.0.0.0:8080", false), nobody, true, nil},
		{"rule: uid without rules is confined", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, udpSpec("0.0.0.0:40000", false), Cred{UID: 1001}, false, nil},
		{"rule: capability does not lift confinement", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, udpSpec("0.0.0.0:80", false), nobodyCap, false, nil},
		{"rule: uid 0 not confined", AccessPolicy{UnprivilegedPortStart: 1024, Allow: confined}, udpSpec("0.0.0.0:80", false), root, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.authorize(tt.spec, tt.cred)
			if tt.ok {
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
				return
			}
			if err == nil {
				t.Fatal("allowed, want refused")
			}
			if !errors.Is(err, ErrPermission) || !errors.Is(err, syscall.EACCES) {
				t.Errorf("%v: want ErrPermission and EACCES", err)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %q", err, m)
				}
			}
		})
	}
}

func TestCapEffHas(t *testing.T) {
	tests := []struct {
		status string
		want   bool
	}{
		{"Name:\tx\nCapInh:\t0000000000000400\nCapEff:\t0000000000000000\n", false},
		{"CapEff:\t0000000000000400\n", true},
		{"CapEff:\t000001ffffffffff\n", true},
		{"CapEff:\t00000000000003ff\n", false},
		{"CapPrm:\t0000000000000400\n", false},
		{"CapEff:\tzz\n", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := capEffHas([]byte(tt.status), capNetBindService); got != tt.want {
			t.Errorf("capEffHas(%q) = %v, want %v", tt.status, got, tt.want)
		}
	}
}

// TestBindAccess checks the policy through Bind: a refused bind leaves
// nothing claimed or bound, an explicit Cred is used, and New's default
// port start is 1024.
func TestBindAccess(t *testing.T) {
	c := &fakeClaimer{}
	l := newLab(t, 1, rxqtest.Options{NumFrames: 64, FrameSize: 2048}, Config{Claimer: c, LocalAddrs: testLocal, Access: AccessPolicy{UnprivilegedPortStart: DefaultUnprivilegedPortStart}})
	nobody := &Cred{UID: 65534}
	for _, s := range []pcb.Spec{udpSpec("0.0.0.0:53", false), tcpSpec("198.18.0.1:22", false), udpSpec("[::]:1023", false)} {
		if _, err := l.d.Bind(s, EndpointOptions{Cred: nobody}); !errors.Is(err, syscall.EACCES) || !errors.Is(err, ErrPermission) {
			t.Errorf("bind %s as uid 65534: got %v, want EACCES", s, err)
		}
	}
	if log := c.takeLog(); len(log) != 0 {
		t.Errorf("refused binds claimed %q", log)
	}
	if n := len(l.d.Stats().Endpoints); n != 0 {
		t.Errorf("%d endpoints bound after refusals", n)
	}
	if _, err := l.d.Bind(udpSpec("0.0.0.0:1024", false), EndpointOptions{Cred: nobody}); err != nil {
		t.Errorf("port 1024 as uid 65534: %v", err)
	}
	if _, err := l.d.Bind(udpSpec("0.0.0.0:53", false), EndpointOptions{Cred: &Cred{UID: 65534, CapNetBindService: true}}); err != nil {
		t.Errorf("port 53 with CAP_NET_BIND_SERVICE: %v", err)
	}
	if _, err := l.d.Bind(tcpSpec("0.0.0.0:22", false), EndpointOptions{Cred: &Cred{UID: 0}}); err != nil {
		t.Errorf("port 22 as uid 0: %v", err)
	}
}

func TestNewRejectsBadAllowRule(t *testing.T) {
	for _, r := range []AllowRule{
		{UID: 1, FirstPort: 0, LastPort: 10},
		{UID: 1, FirstPort: 20, LastPort: 10},
		{UID: 1, Proto: 1, FirstPort: 10, LastPort: 10},
	} {
		set, err := rxqtest.NewSet(1, rxqtest.Options{NumFrames: 64, FrameSize: 2048})
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(Config{Sources: rxqtest.Sources(set), Access: AccessPolicy{Allow: []AllowRule{r}}})
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("rule %+v: got %v, want ErrInvalidConfig", r, err)
		}
		if d != nil {
			d.Close()
		}
		for _, s := range set {
			s.Close()
		}
	}
}

// FuzzParseAllowRule: an operator's -allow text parses into a rule whose
// String parses back to the same rule, or is refused with ErrInvalidConfig;
// it never panics.
func FuzzParseAllowRule(f *testing.F) {
	for _, s := range []string{"uid=1000,ports=5000-5999", "uid=0,ports=53,proto=udp", "ports=1-2,uid=7", "uid=1,ports=9-3", "uid=,ports="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseAllowRule(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("ParseAllowRule(%q): %v, not ErrInvalidConfig", s, err)
			}
			return
		}
		if r.FirstPort > r.LastPort || r.FirstPort == 0 {
			t.Fatalf("ParseAllowRule(%q) = %+v: bad range", s, r)
		}
		back, err := ParseAllowRule(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseAllowRule(%q) = %+v; String %q parses to %+v, %v", s, r, r.String(), back, err)
		}
	})
}
