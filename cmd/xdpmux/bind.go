package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
)

// errBadBind is wrapped by every BIND syntax error.
var errBadBind = errors.New("malformed BIND")

// bindSyntax is the BIND grammar, for usage texts.
const bindSyntax = `BIND := PROTO/ADDR:PORT[/COUNT[@slots[=FIRST]]]
          e.g. udp/0.0.0.0:53/4  tcp/[::]:443/8  udp/0.0.0.0:53/4@slots
  @slots gives the COUNT members the slots FIRST.. (default 0..COUNT-1)`

// bindArg is one parsed BIND := PROTO/ADDR:PORT[/COUNT[@slots[=FIRST]]].
type bindArg struct {
	Proto pcb.Proto
	Local netip.AddrPort
	// Count is the number of reuseport members; 0 means one plain endpoint
	// without reuseport (no /COUNT given).
	Count int
	// Slots gives member i the slot FirstSlot+i (pcb.Spec.Slot).
	Slots     bool
	FirstSlot uint32
}

// String is the canonical PROTO/ADDR:PORT that names the BIND's endpoints.
func (b bindArg) String() string {
	return b.Proto.String() + "/" + b.Local.String()
}

// parseBind parses PROTO/ADDR:PORT[/COUNT[@slots[=FIRST]]], e.g.
// udp/0.0.0.0:53/4, tcp/[::]:443/8 or udp/0.0.0.0:53/4@slots=8.
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
		count, opt, hasOpt := strings.Cut(count, "@")
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			return bindArg{}, fmt.Errorf("%w %q: count %q: want an integer >= 1", errBadBind, s, count)
		}
		b.Count = n
		if hasOpt {
			name, first, hasFirst := strings.Cut(opt, "=")
			if name != "slots" {
				return bindArg{}, fmt.Errorf("%w %q: option %q: want @slots or @slots=FIRST", errBadBind, s, opt)
			}
			b.Slots = true
			if hasFirst {
				f, err := strconv.ParseUint(first, 10, 32)
				if err != nil {
					return bindArg{}, fmt.Errorf("%w %q: first slot %q: want an integer >= 0", errBadBind, s, first)
				}
				b.FirstSlot = uint32(f)
			}
			if last := uint64(b.FirstSlot) + uint64(n) - 1; last > localgroup.MaxSlot {
				return bindArg{}, fmt.Errorf("%w %q: last slot %d above %d", errBadBind, s, last, localgroup.MaxSlot)
			}
		}
	}
	return b, nil
}

// specs returns the specs of the BIND's endpoints, named PROTO/ADDR:PORT#I
// with I counted on in next (shared by the BINDs of one command line, so
// that every endpoint has a distinct name).
func (b bindArg) specs(owner pcb.Owner, next map[string]int) []pcb.Spec {
	base := b.String()
	out := make([]pcb.Spec, max(b.Count, 1))
	for i := range out {
		out[i] = pcb.Spec{Proto: b.Proto, Local: b.Local, ReusePort: b.Count > 0, Owner: owner,
			HasSlot: b.Slots, Slot: b.FirstSlot + uint32(i),
			Name: fmt.Sprintf("%s#%d", base, next[base])}
		next[base]++
	}
	return out
}
