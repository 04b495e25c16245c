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
	local, count, hasCount := s, "", false
	// The COUNT is after a second slash; addresses hold none.
	if i := strings.Index(s, "/"); i >= 0 {
		if j := strings.Index(s[i+1:], "/"); j >= 0 {
			local, count, hasCount = s[:i+1+j], s[i+2+j:], true
		}
	}
	proto, ap, err := pcb.ParseLocal(local)
	if se := (*pcb.SyntaxError)(nil); errors.As(err, &se) {
		return bindArg{}, fmt.Errorf("%w %q: %s", errBadBind, s, se.Why)
	} else if err != nil {
		return bindArg{}, fmt.Errorf("%w %q: %w", errBadBind, s, err)
	}
	b := bindArg{Proto: proto, Local: ap}
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			return bindArg{}, fmt.Errorf("%w %q: count %q: want an integer >= 1", errBadBind, s, count)
		}
		b.Count = n
	}
	return b, nil
}
