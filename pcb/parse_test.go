package pcb

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
)

func TestParseLocal(t *testing.T) {
	for _, tc := range []struct {
		in    string
		proto Proto
		local string // "" = error
	}{
		{"udp/0.0.0.0:53", UDP, "0.0.0.0:53"},
		{"TCP/198.18.0.1:80", TCP, "198.18.0.1:80"},
		{"tcp/[::]:443", TCP, "[::]:443"},
		{"udp/[2001:db8::1]:5353", UDP, "[2001:db8::1]:5353"},
		{"udp/0.0.0.0", 0, ""},
		{"udp/0.0.0.0:0", 0, ""},
		{"udp/0.0.0.0:65536", 0, ""},
		{"sctp/0.0.0.0:53", 0, ""},
		{"udp/::1:53", 0, ""},
		{"udp/[fe80::1%eth0]:53", 0, ""},
		{"udp0.0.0.0:53", 0, ""},
		{"", 0, ""},
	} {
		p, ap, err := ParseLocal(tc.in)
		if tc.local == "" {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("ParseLocal(%q): got error %v, want one wrapping ErrInvalidSpec", tc.in, err)
			}
			continue
		}
		if err != nil || p != tc.proto || ap != netip.MustParseAddrPort(tc.local) {
			t.Errorf("ParseLocal(%q) = %v, %v, %v; want %v, %v", tc.in, p, ap, err, tc.proto, tc.local)
		}
	}
}

func TestErrAddrInUseIsErrno(t *testing.T) {
	err := fmt.Errorf("bind udp/0.0.0.0:53: %w", ErrAddrInUse)
	if !errors.Is(err, ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("%v: errors.Is ErrAddrInUse %v, EADDRINUSE %v; want both", err,
			errors.Is(err, ErrAddrInUse), errors.Is(err, syscall.EADDRINUSE))
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(ErrInvalidSpec, syscall.EADDRINUSE) {
		t.Error("ErrAddrInUse matches another errno, or another sentinel matches EADDRINUSE")
	}
}
