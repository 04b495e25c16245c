package pcb

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseProto parses "udp" or "tcp" (any case).
func ParseProto(s string) (Proto, error) {
	switch strings.ToLower(s) {
	case "udp":
		return UDP, nil
	case "tcp":
		return TCP, nil
	}
	return 0, fmt.Errorf("%w: protocol %q: want udp or tcp", ErrInvalidSpec, s)
}

// SyntaxError is a PROTO/ADDR:PORT that does not parse. It matches
// ErrInvalidSpec.
type SyntaxError struct {
	Text string // the text as given
	Why  string // what is wrong with it
}

func (e *SyntaxError) Error() string        { return fmt.Sprintf("%v %q: %s", ErrInvalidSpec, e.Text, e.Why) }
func (e *SyntaxError) Is(target error) bool { return target == ErrInvalidSpec }

// ParseLocal parses PROTO/ADDR:PORT, e.g. "udp/0.0.0.0:53" or
// "tcp/[::]:443": the local side of a binding as the command line and the
// control socket write it. The port must not be 0 and the address must
// have no zone. Errors are *SyntaxError.
func ParseLocal(s string) (Proto, netip.AddrPort, error) {
	fail := func(why string) (Proto, netip.AddrPort, error) {
		return 0, netip.AddrPort{}, &SyntaxError{Text: s, Why: why}
	}
	protoText, rest, ok := strings.Cut(s, "/")
	if !ok {
		return fail("want PROTO/ADDR:PORT")
	}
	proto, err := ParseProto(protoText)
	if err != nil {
		return fail(fmt.Sprintf("protocol %q: want udp or tcp", protoText))
	}
	ap, err := netip.ParseAddrPort(rest)
	switch {
	case err != nil:
		return fail(fmt.Sprintf("address %q: want ADDR:PORT, with IPv6 in brackets", rest))
	case ap.Addr().Zone() != "":
		return fail("zones are not supported")
	case ap.Port() == 0:
		return fail("port 0: a binding needs a fixed port")
	}
	return proto, ap, nil
}
