package pcb

import (
	"net/netip"
	"strings"
	"testing"
)

// sp builds a Spec from "udp/198.18.0.1:53" or "tcp/198.18.0.1:80->198.18.0.2:1234",
// owner "a", plus options.
func sp(s string, opts ...func(*Spec)) Spec {
	proto, rest, _ := strings.Cut(s, "/")
	var spec Spec
	switch proto {
	case "udp":
		spec.Proto = UDP
	case "tcp":
		spec.Proto = TCP
	default:
		spec.Proto = Proto(99)
	}
	local, remote, conn := strings.Cut(rest, "->")
	spec.Local = netip.MustParseAddrPort(local)
	if conn {
		spec.Remote = netip.MustParseAddrPort(remote)
	}
	spec.Owner = "a"
	for _, o := range opts {
		o(&spec)
	}
	return spec
}

func rp(s *Spec)   { s.ReusePort = true }
func dual(s *Spec) { s.DualStack = true }
func own(o Owner) func(*Spec) {
	return func(s *Spec) { s.Owner = o }
}
func jail(addrs ...string) func(*Spec) {
	return func(s *Spec) {
		for _, a := range addrs {
			s.Jail = append(s.Jail, netip.MustParseAddr(a))
		}
	}
}

// fl builds a flow "proto src -> dst" (addr:port each). The family follows
// the destination address.
func fl(proto, src, dst string) Flow {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	f := Flow{Proto: UDP, Family: IPv6, SrcPort: s.Port(), DstPort: d.Port(), Src: AddrFrom(s.Addr()), Dst: AddrFrom(d.Addr())}
	if proto == "tcp" {
		f.Proto = TCP
	}
	if d.Addr().Is4() {
		f.Family = IPv4
	}
	return f
}

func newTable(t testing.TB, cfg Config) *Table {
	t.Helper()
	tb, err := NewTable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}
