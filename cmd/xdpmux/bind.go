package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xdpmux/xdpmux/pcb"
)

// errBadBind is wrapped by every BIND syntax error.
var errBadBind = errors.New("malformed BIND")

// bindArg is one parsed BIND := PROTO/ADDR:PORT[/COUNT].
type bindArg struct {
	Proto pcb.Proto
	Local netip.AddrPort
	// Count is the number of reuseport members; 0 means one plain endpoint
	// without reuseport (no /COUNT given).
	Count int
}

// String is the canonical PROTO/ADDR:PORT that names the BIND's endpoints.
func (b bindArg) String() string {
	return b.Proto.String() + "/" + b.Local.String()
}

// parseBind parses PROTO/ADDR:PORT[/COUNT], e.g. udp/0.0.0.0:53/4 or
// tcp/[::]:443/8.
func parseBind(s string) (bindArg, error) {
	fail := func(format string, args ...any) (bindArg, error) {
		return bindArg{}, fmt.Errorf("%w %q: %s", errBadBind, s, fmt.Sprintf(format, args...))
	}
	proto, rest, ok := strings.Cut(s, "/")
	if !ok {
		return fail("want PROTO/ADDR:PORT[/COUNT]")
	}
	var b bindArg
	switch strings.ToLower(proto) {
	case "udp":
		b.Proto = pcb.UDP
	case "tcp":
		b.Proto = pcb.TCP
	default:
		return fail("protocol %q: want udp or tcp", proto)
	}
	addrPort, count, hasCount := strings.Cut(rest, "/")
	ap, err := netip.ParseAddrPort(addrPort)
	if err != nil {
		return fail("address %q: want ADDR:PORT, with IPv6 in brackets", addrPort)
	}
	if ap.Addr().Zone() != "" {
		return fail("address %q: zones are not supported", addrPort)
	}
	if ap.Port() == 0 {
		return fail("port 0: a BIND needs a fixed port")
	}
	b.Local = ap
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			return fail("count %q: want an integer >= 1", count)
		}
		b.Count = n
	}
	return b, nil
}
