package dataplane

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/xdpmux/xdpmux/pcb"
)

// DefaultUnprivilegedPortStart is Linux's default ip_unprivileged_port_start:
// the lowest port a uid without CAP_NET_BIND_SERVICE may bind.
const DefaultUnprivilegedPortStart = 1024

// capNetBindService is CAP_NET_BIND_SERVICE's bit in CapEff.
const capNetBindService = 10

// Cred is who asks for a bind: the endpoint receives only what a kernel
// socket bound by the same user would (docs/SEMANTICS.md, "Who may bind
// what").
type Cred struct {
	UID uint32
	// CapNetBindService: the caller holds CAP_NET_BIND_SERVICE (in the
	// dataplane's network namespace) and may bind ports below
	// AccessPolicy.UnprivilegedPortStart.
	CapNetBindService bool
}

// AccessPolicy decides which uid may bind which port.
//
// With no Allow rules the rules are Linux's, so that an endpoint can bind
// exactly what a kernel socket of the same user could: uid 0 binds anything,
// other uids bind ports from UnprivilegedPortStart up, and lower ports only
// with CAP_NET_BIND_SERVICE. With Allow rules the operator confines users: a
// uid other than 0 binds only what a rule for its uid covers (a rule may open
// a port below UnprivilegedPortStart to a uid without the capability).
type AccessPolicy struct {
	// UnprivilegedPortStart is ip_unprivileged_port_start. 0 means:
	// OpenInterface reads /proc/sys/net/ipv4/ip_unprivileged_port_start in
	// the interface's namespace; New over sources of its caller's (no
	// interface, so no kernel port to protect) makes every port
	// unprivileged. A negative value makes every port unprivileged (the
	// sysctl's 0).
	UnprivilegedPortStart int
	// Allow, when not empty, lists everything a non-root uid may bind.
	Allow []AllowRule
}

// AllowRule lets UID bind local ports FirstPort..LastPort of Proto (0: udp
// and tcp).
type AllowRule struct {
	UID                 uint32
	Proto               pcb.Proto // 0 means any
	FirstPort, LastPort uint16
}

// String returns the rule in ParseAllowRule's syntax.
func (r AllowRule) String() string {
	s := "uid=" + strconv.FormatUint(uint64(r.UID), 10) + ",ports=" + strconv.Itoa(int(r.FirstPort))
	if r.LastPort != r.FirstPort {
		s += "-" + strconv.Itoa(int(r.LastPort))
	}
	if r.Proto != 0 {
		s += ",proto=" + r.Proto.String()
	}
	return s
}

func (r AllowRule) covers(uid uint32, proto pcb.Proto, port uint16) bool {
	return r.UID == uid && (r.Proto == 0 || r.Proto == proto) && r.FirstPort <= port && port <= r.LastPort
}

// ParseAllowRule parses "uid=1000,ports=5000-5999", "uid=1000,ports=8080"
// or either with ",proto=udp" (or tcp), keys in any order. Errors wrap
// ErrInvalidConfig.
func ParseAllowRule(s string) (AllowRule, error) {
	bad := func(why string) (AllowRule, error) {
		return AllowRule{}, fmt.Errorf("%w: allow rule %q: %s", ErrInvalidConfig, s, why)
	}
	var r AllowRule
	var haveUID, havePorts, haveProto bool
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return bad(fmt.Sprintf("%q is not key=value", kv))
		}
		switch k {
		case "uid":
			if haveUID {
				return bad("uid given twice")
			}
			u, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return bad(fmt.Sprintf("uid %q is not a number", v))
			}
			r.UID, haveUID = uint32(u), true
		case "ports":
			if havePorts {
				return bad("ports given twice")
			}
			lo, hi, rng := strings.Cut(v, "-")
			if !rng {
				hi = lo
			}
			first, err1 := parsePort(lo)
			last, err2 := parsePort(hi)
			switch {
			case err1 != nil || err2 != nil:
				return bad(fmt.Sprintf("ports %q: want PORT or FIRST-LAST, ports 1..65535", v))
			case first > last:
				return bad(fmt.Sprintf("ports %q: first port above last", v))
			}
			r.FirstPort, r.LastPort, havePorts = first, last, true
		case "proto":
			if haveProto {
				return bad("proto given twice")
			}
			p, err := pcb.ParseProto(v)
			if err != nil {
				return bad(fmt.Sprintf("proto %q: want udp or tcp", v))
			}
			r.Proto, haveProto = p, true
		default:
			return bad(fmt.Sprintf("unknown key %q (want uid, ports, proto)", k))
		}
	}
	switch {
	case !haveUID:
		return bad("no uid")
	case !havePorts:
		return bad("no ports")
	}
	return r, nil
}

// validate checks rules built without ParseAllowRule.
func (p *AccessPolicy) validate() error {
	for _, r := range p.Allow {
		if r.FirstPort == 0 || r.FirstPort > r.LastPort || (r.Proto != 0 && r.Proto != pcb.UDP && r.Proto != pcb.TCP) {
			return fmt.Errorf("%w: allow rule %+v: want ports 1..65535, first <= last, proto udp, tcp or 0", ErrInvalidConfig, r)
		}
	}
	return nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

// selfCred is the embedding process's credential: its effective uid and
// whether CapEff holds CAP_NET_BIND_SERVICE.
func selfCred() Cred {
	c := Cred{UID: uint32(os.Geteuid())}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		c.CapNetBindService = capEffHas(b, capNetBindService)
	}
	return c
}

// capEffHas reports whether the CapEff line of a /proc/PID/status text has
// bit set.
func capEffHas(status []byte, bit uint) bool {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapEff:")
		if !ok {
			continue
		}
		m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		return err == nil && m&(1<<bit) != 0
	}
	return false
}

// authorize applies the policy to cred binding spec. A refusal names the
// spec, the uid and the rule, and matches ErrPermission and syscall.EACCES.
func (p *AccessPolicy) authorize(spec pcb.Spec, cred Cred) error {
	if cred.UID == 0 {
		return nil
	}
	port := spec.Local.Port()
	if len(p.Allow) > 0 {
		for _, r := range p.Allow {
			if r.covers(cred.UID, spec.Proto, port) {
				return nil
			}
		}
		return &bindDenied{fmt.Sprintf("bind %s: uid %d: no allow rule for uid %d covers %s port %d (%d rules): permission denied",
			spec, cred.UID, cred.UID, spec.Proto, port, len(p.Allow))}
	}
	if int(port) < p.UnprivilegedPortStart && !cred.CapNetBindService {
		return &bindDenied{fmt.Sprintf("bind %s: uid %d: port %d is below ip_unprivileged_port_start %d and needs CAP_NET_BIND_SERVICE: permission denied",
			spec, cred.UID, port, p.UnprivilegedPortStart)}
	}
	return nil
}

// bindDenied is a bind refused by the AccessPolicy. It matches
// ErrPermission and syscall.EACCES, without ErrPermission's hint about
// root, which is about opening interfaces.
type bindDenied struct{ msg string }

func (e *bindDenied) Error() string   { return e.msg }
func (e *bindDenied) Unwrap() []error { return []error{ErrPermission, syscall.EACCES} }
