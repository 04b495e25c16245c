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
const bindSyntax = `BIND := PROTO/ADDR:PORT[/COUNT][@OPT[,OPT]]
          e.g. udp/0.0.0.0:53/4  tcp/[::]:443/8  udp/0.0.0.0:53/4@slots
  OPT := slots[=FIRST]  the COUNT members get slots FIRST.. (default 0..)
       | dual           IPv6 only: also accept IPv4 (dual-stack)
       | local          member i lives next to queue i mod QUEUES (queue-local)
       | queue=Q        every member lives next to queue Q (queue-local)`

// bindArg is one parsed BIND := PROTO/ADDR:PORT[/COUNT][@OPT[,OPT]].
type bindArg struct {
	Proto pcb.Proto
	Local netip.AddrPort
	// Count is the number of reuseport members; 0 means one plain endpoint
	// without reuseport (no /COUNT given).
	Count int
	// Slots gives member i the slot FirstSlot+i (pcb.Spec.Slot).
	Slots     bool
	FirstSlot uint32
	// DualStack (@dual) makes IPv6 endpoints that also take IPv4.
	DualStack bool
	// QueueLocal (@local) declares member i's queue as i mod the number of
	// queues; HasQueue (@queue=Q) declares Queue for every member
	// (pcb.Spec.Queue, queue-local members).
	QueueLocal bool
	HasQueue   bool
	Queue      uint32
}

// declaresQueues reports whether the BIND's members declare a queue.
func (b bindArg) declaresQueues() bool { return b.QueueLocal || b.HasQueue }

// String is the canonical PROTO/ADDR:PORT that names the BIND's endpoints.
func (b bindArg) String() string {
	return b.Proto.String() + "/" + b.Local.String()
}

// parseBind parses PROTO/ADDR:PORT[/COUNT][@OPT[,OPT]], e.g.
// udp/0.0.0.0:53/4, tcp/[::]:443/8, udp/0.0.0.0:53/4@slots=8 or
// udp/[::]:53/4@dual,slots.
func parseBind(s string) (bindArg, error) {
	// Options follow an @; addresses hold none.
	spec, opts, hasOpts := strings.Cut(s, "@")
	local, count, hasCount := spec, "", false
	// The COUNT is after a second slash; addresses hold none.
	if i := strings.Index(spec, "/"); i >= 0 {
		if j := strings.Index(spec[i+1:], "/"); j >= 0 {
			local, count, hasCount = spec[:i+1+j], spec[i+2+j:], true
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
	if !hasOpts {
		return b, nil
	}
	for _, opt := range strings.Split(opts, ",") {
		name, first, hasFirst := strings.Cut(opt, "=")
		switch {
		case opt == "dual":
			if !ap.Addr().Is6() {
				return bindArg{}, fmt.Errorf("%w %q: @dual needs an IPv6 address", errBadBind, s)
			}
			b.DualStack = true
		case name == "slots" && b.Count == 0:
			return bindArg{}, fmt.Errorf("%w %q: @slots needs /COUNT (reuseport members)", errBadBind, s)
		case name == "slots":
			b.Slots = true
			if hasFirst {
				f, err := strconv.ParseUint(first, 10, 32)
				if err != nil {
					return bindArg{}, fmt.Errorf("%w %q: first slot %q: want an integer >= 0", errBadBind, s, first)
				}
				b.FirstSlot = uint32(f)
			}
			if last := uint64(b.FirstSlot) + uint64(b.Count) - 1; last > localgroup.MaxSlot {
				return bindArg{}, fmt.Errorf("%w %q: last slot %d above %d", errBadBind, s, last, localgroup.MaxSlot)
			}
		case (opt == "local" || name == "queue") && b.Count == 0:
			return bindArg{}, fmt.Errorf("%w %q: @%s needs /COUNT (reuseport members)", errBadBind, s, name)
		case opt == "local" && !b.HasQueue:
			b.QueueLocal = true
		case name == "queue" && hasFirst && !b.QueueLocal:
			q, err := strconv.ParseUint(first, 10, 16)
			if err != nil {
				return bindArg{}, fmt.Errorf("%w %q: queue %q: want an integer from 0 to %d", errBadBind, s, first, pcb.MaxQueues-1)
			}
			b.HasQueue, b.Queue = true, uint32(q)
		case opt == "local" || name == "queue" && hasFirst:
			return bindArg{}, fmt.Errorf("%w %q: @local and @queue=Q together", errBadBind, s)
		default:
			return bindArg{}, fmt.Errorf("%w %q: option %q: want slots, slots=FIRST, dual, local or queue=Q", errBadBind, s, opt)
		}
	}
	return b, nil
}

// specs returns the specs of the BIND's endpoints, named PROTO/ADDR:PORT#I
// with I counted on in next (shared by the BINDs of one command line, so
// that every endpoint has a distinct name); queues is the number of
// queues, for @local.
func (b bindArg) specs(owner pcb.Owner, next map[string]int, queues int) []pcb.Spec {
	base := b.String()
	out := make([]pcb.Spec, max(b.Count, 1))
	for i := range out {
		out[i] = pcb.Spec{Proto: b.Proto, Local: b.Local, ReusePort: b.Count > 0, Owner: owner,
			HasSlot: b.Slots, Slot: b.FirstSlot + uint32(i), DualStack: b.DualStack,
			HasQueue: b.declaresQueues(), Queue: b.Queue,
			Name: fmt.Sprintf("%s#%d", base, next[base])}
		if b.QueueLocal {
			out[i].Queue = uint32(i % max(queues, 1))
		}
		next[base]++
	}
	return out
}
