package ctl

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/pcb"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in    string
		proto pcb.Proto
		local string
		ok    bool
	}{
		{"udp/0.0.0.0:53", pcb.UDP, "0.0.0.0:53", true},
		{"TCP/[::]:443", pcb.TCP, "[::]:443", true},
		{"udp/198.18.0.2:5353", pcb.UDP, "198.18.0.2:5353", true},
		{"udp/[2001:db8::1]:1", pcb.UDP, "[2001:db8::1]:1", true},
		{"udp/0.0.0.0:0", 0, "", false},
		{"udp/0.0.0.0:53/4", 0, "", false},
		{"sctp/0.0.0.0:53", 0, "", false},
		{"udp/[fe80::1%eth0]:53", 0, "", false},
		{"udp0.0.0.0:53", 0, "", false},
		{"udp/::1:53", 0, "", false},
		{"", 0, "", false},
	} {
		p, ap, err := ParseSpec(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSpec(%q) error %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if !tc.ok {
			if !errors.Is(err, pcb.ErrInvalidSpec) {
				t.Errorf("ParseSpec(%q) error %v does not wrap ErrInvalidSpec", tc.in, err)
			}
			continue
		}
		if p != tc.proto || ap.String() != tc.local {
			t.Errorf("ParseSpec(%q) = %v %v, want %v %v", tc.in, p, ap, tc.proto, tc.local)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, f := range []dataplane.Frame{
		{Src: netip.MustParseAddrPort("198.18.0.1:1234"), Dst: netip.MustParseAddrPort("198.18.0.2:53"), Queue: 3, Hash: 0xdeadbeef, Payload: []byte("hello")},
		{Src: netip.MustParseAddrPort("[2001:db8::1]:1"), Dst: netip.MustParseAddrPort("[2001:db8::2]:65535"), Queue: 0, Hash: 1, Payload: nil},
		{Src: netip.MustParseAddrPort("[::ffff:1.2.3.4]:9"), Dst: netip.MustParseAddrPort("[::]:9"), Payload: bytes.Repeat([]byte{7}, 4000)},
	} {
		b := appendFrame(nil, pcb.TCP, &f)
		if len(b) != frameRecordLen(&f) {
			t.Errorf("record of %d bytes, frameRecordLen says %d", len(b), frameRecordLen(&f))
		}
		var m Message
		rest, err := parseFrame(b, &m)
		if err != nil || len(rest) != 0 {
			t.Fatalf("parseFrame: %v, %d bytes left", err, len(rest))
		}
		if m.Src != f.Src || m.Dst != f.Dst || m.Queue != f.Queue || m.Hash != f.Hash || m.Proto != pcb.TCP || !bytes.Equal(m.Payload, f.Payload) {
			t.Errorf("round trip: got %+v, want %+v", m, f)
		}
	}
}

func TestRemoteErrorIs(t *testing.T) {
	for code, want := range map[byte]error{
		CodeProtocol: ErrProtocol, CodeAddrInUse: pcb.ErrAddrInUse, CodeGroupFull: pcb.ErrGroupFull,
		CodeInvalidSpec: pcb.ErrInvalidSpec, CodePermission: dataplane.ErrPermission, CodeShutdown: ErrDisconnected,
		CodeLimit: ErrLimit, CodeAddrNotAvail: syscall.EADDRNOTAVAIL,
	} {
		err := parseError(append([]byte{code}, "x"...))
		if !errors.Is(err, want) {
			t.Errorf("code %d does not match %v", code, want)
		}
		if codeOf(want) != code && code != CodeShutdown {
			t.Errorf("codeOf(%v) = %d, want %d", want, codeOf(want), code)
		}
	}
}

// TestCodeRoundTrip: a server-side error goes out as a code and comes
// back, in the client, as an error matching the same sentinels and errno.
func TestCodeRoundTrip(t *testing.T) {
	all := []error{pcb.ErrAddrInUse, syscall.EADDRINUSE, dataplane.ErrPermission, syscall.EACCES, os.ErrPermission,
		syscall.EADDRNOTAVAIL, ErrLimit, pcb.ErrGroupFull, pcb.ErrInvalidSpec, ErrProtocol, ErrDisconnected}
	for _, tc := range []struct {
		name string
		err  error // as the server meets it
		code byte
		want []error // what the client's error matches; nothing else of all
	}{
		{"port taken", fmt.Errorf("bind udp/0.0.0.0:53: %w by endpoint 1", pcb.ErrAddrInUse), CodeAddrInUse,
			[]error{pcb.ErrAddrInUse, syscall.EADDRINUSE}},
		{"port held by a kernel socket", fmt.Errorf("bind udp/0.0.0.0:53: %w: %w", pcb.ErrAddrInUse, syscall.EADDRINUSE), CodeAddrInUse,
			[]error{pcb.ErrAddrInUse, syscall.EADDRINUSE}},
		{"refused bind", fmt.Errorf("bind udp/0.0.0.0:53: %w: %w", dataplane.ErrPermission, syscall.EACCES), CodePermission,
			[]error{dataplane.ErrPermission, syscall.EACCES, os.ErrPermission}},
		{"refused bind, errno only", fmt.Errorf("bind udp/0.0.0.0:53: %w", syscall.EACCES), CodePermission,
			[]error{dataplane.ErrPermission, syscall.EACCES, os.ErrPermission}},
		{"not a local address", fmt.Errorf("bind udp/192.0.2.1:53: %w", syscall.EADDRNOTAVAIL), CodeAddrNotAvail,
			[]error{syscall.EADDRNOTAVAIL}},
		{"limit", limitError("ports_per_uid", 16), CodeLimit, []error{ErrLimit}},
		{"group full", fmt.Errorf("bind: %w", pcb.ErrGroupFull), CodeGroupFull, []error{pcb.ErrGroupFull}},
		{"slot in use", fmt.Errorf("bind: %w", pcb.ErrSlotInUse), CodeAddrInUse, []error{pcb.ErrAddrInUse, syscall.EADDRINUSE}},
		{"invalid spec", fmt.Errorf("%w: x", pcb.ErrInvalidSpec), CodeInvalidSpec, []error{pcb.ErrInvalidSpec}},
		{"protocol", fmt.Errorf("%w: x", ErrProtocol), CodeProtocol, []error{ErrProtocol}},
		{"shutdown", dataplane.ErrClosed, CodeShutdown, []error{ErrDisconnected}},
		{"other", errors.New("boom"), CodeInternal, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := codeOf(tc.err)
			if code != tc.code {
				t.Fatalf("codeOf(%v) = %d, want %d", tc.err, code, tc.code)
			}
			msg := appendError(nil, code, tc.err.Error())
			typ, err := header(msg)
			if err != nil || typ != TypeError {
				t.Fatalf("header: %d, %v", typ, err)
			}
			got := parseError(msg[HeaderLen:])
			if got.Error() != tc.err.Error() {
				t.Errorf("message %q, want %q", got.Error(), tc.err.Error())
			}
			for _, target := range all {
				if is, want := errors.Is(got, target), slices.Contains(tc.want, target); is != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", got, target, is, want)
				}
			}
		})
	}
}

func TestBindSlotRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		flags byte
		slot  uint16
	}{{FlagReusePort, 0}, {FlagReusePort | FlagSlot, 0}, {FlagReusePort | FlagSlot, 0xfffe}, {FlagSlot | FlagDualStack, 513}} {
		msg := appendBind(nil, "udp/[::]:53", tc.flags, tc.slot, 0)
		req, err := parseBind(msg[HeaderLen:])
		if err != nil {
			t.Fatalf("parseBind(%x): %v", msg, err)
		}
		want := uint32(0)
		if tc.flags&FlagSlot != 0 {
			want = uint32(tc.slot)
		}
		if req.Flags != tc.flags || req.Slot != want || req.Local.String() != "[::]:53" {
			t.Errorf("flags %#x slot %d: got %+v", tc.flags, tc.slot, req)
		}
	}
	if _, err := parseBind([]byte{FlagSlot, 0, 1}); !errors.Is(err, ErrProtocol) {
		t.Errorf("slot without spec: %v, want ErrProtocol", err)
	}
}

func TestBindQueueRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		flags       byte
		slot, queue uint16
	}{{FlagReusePort, 0, 0}, {FlagReusePort | FlagQueue, 0, 3}, {FlagReusePort | FlagSlot | FlagQueue, 9, 0xffff}, {FlagQueue, 0, 1}} {
		msg := appendBind(nil, "udp/0.0.0.0:53", tc.flags, tc.slot, tc.queue)
		req, err := parseBind(msg[HeaderLen:])
		if err != nil {
			t.Fatalf("parseBind(%x): %v", msg, err)
		}
		var slot, queue uint32
		if tc.flags&FlagSlot != 0 {
			slot = uint32(tc.slot)
		}
		if tc.flags&FlagQueue != 0 {
			queue = uint32(tc.queue)
		}
		if req.Flags != tc.flags || req.Slot != slot || req.Queue != queue || req.Local.String() != "0.0.0.0:53" {
			t.Errorf("flags %#x slot %d queue %d: got %+v", tc.flags, tc.slot, tc.queue, req)
		}
	}
	if _, err := parseBind([]byte{FlagSlot | FlagQueue, 0, 1, 0, 1}); !errors.Is(err, ErrProtocol) {
		t.Errorf("queue without spec: %v, want ErrProtocol", err)
	}
	if _, err := parseBind([]byte{1 << 4, 'u', 'd', 'p'}); !errors.Is(err, ErrProtocol) {
		t.Errorf("unknown flag bit 4: %v, want ErrProtocol", err)
	}
}

// FuzzRequest feeds the server's request decoding: it must never panic,
// and a Bind it accepts must carry a spec ParseSpec accepts.
func FuzzRequest(f *testing.F) {
	f.Add(appendBind(nil, "udp/0.0.0.0:53", FlagReusePort, 0, 0))
	f.Add(appendBind(nil, "tcp/[::]:443", FlagDualStack, 0, 0))
	f.Add(appendBind(nil, "udp/0.0.0.0:53", FlagReusePort|FlagSlot, 7, 0))
	f.Add(appendBind(nil, "udp/0.0.0.0:53", FlagReusePort|FlagQueue, 0, 1))
	f.Add(appendBind(nil, "udp/0.0.0.0:53", FlagReusePort|FlagSlot|FlagQueue, 3, 1))
	f.Add(appendHeader(nil, TypeStats))
	f.Add([]byte("XM\x02\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		typ, err := header(msg)
		if err != nil || typ != TypeBind {
			return
		}
		req, err := parseBind(msg[HeaderLen:])
		if err != nil {
			return
		}
		spec := msg[HeaderLen+1:]
		if req.Flags&FlagSlot != 0 {
			spec = spec[2:]
		}
		if req.Flags&FlagQueue != 0 {
			spec = spec[2:]
		}
		if _, _, err := ParseSpec(string(spec)); err != nil || req.Local.Port() == 0 {
			t.Fatalf("accepted %q", msg)
		}
	})
}

// FuzzFrames feeds the client's Frames decoding: it must never panic, and
// what it decodes must encode back to the same bytes.
func FuzzFrames(f *testing.F) {
	fr := dataplane.Frame{Src: netip.MustParseAddrPort("198.18.0.1:1234"), Dst: netip.MustParseAddrPort("198.18.0.2:53"), Payload: []byte("hi")}
	f.Add(appendFrame(appendFrame(nil, pcb.UDP, &fr), pcb.UDP, &fr))
	f.Add(make([]byte, FrameHeaderLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			var m Message
			rest, err := parseFrame(b, &m)
			if err != nil {
				return
			}
			rec := b[:len(b)-len(rest)]
			back := appendFrame(nil, m.Proto, &dataplane.Frame{Src: m.Src, Dst: m.Dst, Queue: m.Queue, Hash: m.Hash, Payload: m.Payload})
			// Byte 0 (family) and the reserved bits of queue may differ
			// only where the input was non-canonical.
			if len(back) != len(rec) || !bytes.Equal(back[8:], rec[8:]) {
				t.Fatalf("re-encoding %x gave %x", rec, back)
			}
			b = rest
		}
	})
}
