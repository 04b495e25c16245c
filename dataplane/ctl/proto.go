package ctl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/pcb"
)

// DefaultPath is where `xdpmux run` listens unless told otherwise.
const DefaultPath = "/run/xdpmux/xdpmux.sock"

// Protocol constants (see the package documentation).
const (
	Version        = 1
	HeaderLen      = 4
	MaxMessage     = 65536 // longest message either side sends
	MaxRequest     = 256   // longest message a client sends
	MaxSpecLen     = 128
	FrameHeaderLen = 46 // one frame record before its payload
	framesBodyOff  = HeaderLen + 4
	// MaxPayload is the longest payload a Frames record carries; longer
	// payloads (impossible with 4096-byte UMEM frames) are truncated.
	MaxPayload = MaxMessage - framesBodyOff - FrameHeaderLen
)

// Message types.
const (
	TypeBind       = 1
	TypeStats      = 2
	TypeBound      = 129
	TypeFrames     = 130
	TypeStatsReply = 131
	TypeError      = 132
)

// Bind flags.
const (
	FlagReusePort = 1 << 0
	FlagDualStack = 1 << 1
	// FlagSlot says a 2-byte slot (pcb.Spec.Slot) precedes the spec. An
	// addition within version 1: older clients never set it, and an older
	// server refuses it as an unknown bit (CodeProtocol).
	FlagSlot = 1 << 2
	// FlagQueue says a 2-byte queue (pcb.Spec.Queue: a queue-local
	// member) follows the slot, if any, before the spec. Added within
	// version 1 as FlagSlot was.
	FlagQueue     = 1 << 3
	bindFlagsMask = FlagReusePort | FlagDualStack | FlagSlot | FlagQueue
	flagMore      = 1 << 0 // Stats reply: more parts follow
)

// Error codes carried by an Error message.
const (
	CodeProtocol    = 1
	CodeAddrInUse   = 2
	CodeGroupFull   = 3
	CodeInvalidSpec = 4
	CodeInternal    = 5
	CodePermission  = 6
	CodeShutdown    = 7
	// CodeLimit: a limit of the server (Limits) was reached; the message
	// names it.
	CodeLimit = 8
	// CodeAddrNotAvail: the address is not local to the dataplane's
	// interface (EADDRNOTAVAIL).
	CodeAddrNotAvail = 9
)

var magic = [2]byte{'X', 'M'}

var (
	// ErrProtocol is returned (wrapped) for a message that breaks the
	// protocol, on either side.
	ErrProtocol = errors.New("control protocol error")
	// ErrInvalidSpec is returned (wrapped) by ParseSpec; it is
	// pcb.ErrInvalidSpec.
	ErrInvalidSpec = pcb.ErrInvalidSpec
	// ErrDisconnected is returned (wrapped) by a client whose connection
	// the server ended (shutdown, or an error it reported).
	ErrDisconnected = errors.New("disconnected by the server")
	// ErrServerClosed is returned by Serve after Close.
	ErrServerClosed = errors.New("control server closed")
	// ErrLimit is returned (wrapped) when a limit of the server (Limits)
	// refuses a connection, a bind or a request: by the server, and by a
	// client that the server answered with CodeLimit.
	ErrLimit = errors.New("control socket limit reached")
)

// ParseSpec parses PROTO/ADDR:PORT, e.g. "udp/0.0.0.0:53" or
// "tcp/[::]:443": the endpoint spec a Bind carries. The port must not be 0
// and the address must have no zone.
func ParseSpec(s string) (pcb.Proto, netip.AddrPort, error) {
	if len(s) > MaxSpecLen {
		return 0, netip.AddrPort{}, fmt.Errorf("%w %q: longer than %d bytes", ErrInvalidSpec, s, MaxSpecLen)
	}
	return pcb.ParseLocal(s)
}

// appendHeader appends a message header of type typ.
func appendHeader(b []byte, typ byte) []byte {
	return append(b, magic[0], magic[1], Version, typ)
}

// header checks a message's header and returns its type.
func header(msg []byte) (byte, error) {
	if len(msg) < HeaderLen {
		return 0, fmt.Errorf("%w: message of %d bytes, shorter than a header", ErrProtocol, len(msg))
	}
	if msg[0] != magic[0] || msg[1] != magic[1] {
		return 0, fmt.Errorf("%w: bad magic %#x%02x, want \"XM\"", ErrProtocol, msg[0], msg[1])
	}
	if msg[2] != Version {
		return 0, fmt.Errorf("%w: version %d, this side speaks version %d", ErrProtocol, msg[2], Version)
	}
	return msg[3], nil
}

// bindRequest is a decoded Bind body.
type bindRequest struct {
	Proto pcb.Proto
	Local netip.AddrPort
	Flags byte
	Slot  uint32 // when Flags has FlagSlot
	Queue uint32 // when Flags has FlagQueue
}

// AppendBind appends a Bind message for spec (PROTO/ADDR:PORT) with flags,
// slot when flags has FlagSlot and queue when it has FlagQueue.
func appendBind(b []byte, spec string, flags byte, slot, queue uint16) []byte {
	b = appendHeader(b, TypeBind)
	b = append(b, flags)
	if flags&FlagSlot != 0 {
		b = binary.BigEndian.AppendUint16(b, slot)
	}
	if flags&FlagQueue != 0 {
		b = binary.BigEndian.AppendUint16(b, queue)
	}
	return append(b, spec...)
}

// parseBind decodes the body of a Bind message (msg without the header).
func parseBind(body []byte) (bindRequest, error) {
	if len(body) < 2 {
		return bindRequest{}, fmt.Errorf("%w: bind without a spec", ErrProtocol)
	}
	flags := body[0]
	if flags&^bindFlagsMask != 0 {
		return bindRequest{}, fmt.Errorf("%w: bind flags %#02x: unknown bits", ErrProtocol, flags)
	}
	body = body[1:]
	var slot uint32
	if flags&FlagSlot != 0 {
		if len(body) < 3 {
			return bindRequest{}, fmt.Errorf("%w: bind with a slot but no spec", ErrProtocol)
		}
		slot, body = uint32(binary.BigEndian.Uint16(body)), body[2:]
	}
	var queue uint32
	if flags&FlagQueue != 0 {
		if len(body) < 3 {
			return bindRequest{}, fmt.Errorf("%w: bind with a queue but no spec", ErrProtocol)
		}
		queue, body = uint32(binary.BigEndian.Uint16(body)), body[2:]
	}
	p, ap, err := ParseSpec(string(body))
	if err != nil {
		return bindRequest{}, err
	}
	return bindRequest{Proto: p, Local: ap, Flags: flags, Slot: slot, Queue: queue}, nil
}

// appendBound appends a Bound message.
func appendBound(b []byte, id pcb.EndpointID, queues int, name string) []byte {
	b = appendHeader(b, TypeBound)
	b = binary.BigEndian.AppendUint32(b, uint32(id))
	b = binary.BigEndian.AppendUint16(b, uint16(queues))
	return append(b, name...)
}

// appendError appends an Error message.
func appendError(b []byte, code byte, msg string) []byte {
	b = appendHeader(b, TypeError)
	b = append(b, code)
	if len(msg) > MaxMessage-len(b) {
		msg = msg[:MaxMessage-len(b)]
	}
	return append(b, msg...)
}

// frameRecordLen is the size of f's record in a Frames message.
func frameRecordLen(f *dataplane.Frame) int {
	return FrameHeaderLen + min(len(f.Payload), MaxPayload)
}

// appendFrame appends f's record to a Frames message under construction.
func appendFrame(b []byte, proto pcb.Proto, f *dataplane.Frame) []byte {
	fam := byte(6)
	if f.Src.Addr().Is4() {
		fam = 4
	}
	pay := f.Payload
	if len(pay) > MaxPayload {
		pay = pay[:MaxPayload]
	}
	b = append(b, fam, byte(proto))
	b = binary.BigEndian.AppendUint16(b, uint16(f.Queue))
	b = binary.BigEndian.AppendUint32(b, f.Hash)
	src, dst := f.Src.Addr().As16(), f.Dst.Addr().As16()
	b = append(b, src[:]...)
	b = binary.BigEndian.AppendUint16(b, f.Src.Port())
	b = append(b, dst[:]...)
	b = binary.BigEndian.AppendUint16(b, f.Dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(len(pay)))
	return append(b, pay...)
}

// Message is one received frame as a client sees it.
type Message struct {
	Src     netip.AddrPort // remote address and port
	Dst     netip.AddrPort // local address and port
	Proto   pcb.Proto
	Queue   int    // dataplane queue it arrived on
	Hash    uint32 // its Toeplitz hash
	Payload []byte // the transport payload (see ReadBatch for its lifetime)
}

// parseFrame decodes one record from b, returning the rest of b.
func parseFrame(b []byte, m *Message) ([]byte, error) {
	if len(b) < FrameHeaderLen {
		return nil, fmt.Errorf("%w: frame record of %d bytes, want at least %d", ErrProtocol, len(b), FrameHeaderLen)
	}
	n := int(binary.BigEndian.Uint16(b[44:46]))
	if len(b) < FrameHeaderLen+n {
		return nil, fmt.Errorf("%w: frame payload of %d bytes, %d left", ErrProtocol, n, len(b)-FrameHeaderLen)
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[26:42]))
	switch b[0] {
	case 4:
		if !src.Is4In6() || !dst.Is4In6() {
			return nil, fmt.Errorf("%w: family 4 with IPv6 addresses", ErrProtocol)
		}
		src, dst = src.Unmap(), dst.Unmap()
	case 6:
	default:
		return nil, fmt.Errorf("%w: frame family %d", ErrProtocol, b[0])
	}
	*m = Message{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[24:26])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[42:44])),
		Proto:   pcb.Proto(b[1]),
		Queue:   int(binary.BigEndian.Uint16(b[2:4])),
		Hash:    binary.BigEndian.Uint32(b[4:8]),
		Payload: b[FrameHeaderLen : FrameHeaderLen+n : FrameHeaderLen+n],
	}
	return b[FrameHeaderLen+n:], nil
}

// RemoteError is an Error message the server sent.
type RemoteError struct {
	Code byte
	Msg  string
}

func (e *RemoteError) Error() string { return e.Msg }

// Is makes errors.Is(err, pcb.ErrAddrInUse) and the like hold for the
// matching codes: the sentinel the server's error matched, and for the
// codes that have one the errno a socket would have returned
// (syscall.EADDRINUSE, EACCES, EADDRNOTAVAIL).
func (e *RemoteError) Is(target error) bool {
	switch e.Code {
	case CodeProtocol:
		return target == ErrProtocol
	case CodeAddrInUse:
		return target == pcb.ErrAddrInUse || target == syscall.EADDRINUSE
	case CodeGroupFull:
		return target == pcb.ErrGroupFull
	case CodeInvalidSpec:
		return target == pcb.ErrInvalidSpec
	case CodePermission:
		return target == dataplane.ErrPermission || target == syscall.EACCES || target == os.ErrPermission
	case CodeShutdown:
		return target == ErrDisconnected
	case CodeLimit:
		return target == ErrLimit
	case CodeAddrNotAvail:
		return target == syscall.EADDRNOTAVAIL
	}
	return false
}

// parseError decodes an Error body.
func parseError(body []byte) error {
	if len(body) < 1 {
		return fmt.Errorf("%w: empty error message", ErrProtocol)
	}
	return &RemoteError{Code: body[0], Msg: string(body[1:])}
}

// codeOf maps a Bind error to its code.
func codeOf(err error) byte {
	switch {
	case errors.Is(err, ErrLimit):
		return CodeLimit
	case errors.Is(err, dataplane.ErrPermission), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return CodePermission
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return CodeAddrNotAvail
	case errors.Is(err, pcb.ErrAddrInUse), errors.Is(err, syscall.EADDRINUSE):
		return CodeAddrInUse
	case errors.Is(err, pcb.ErrGroupFull):
		return CodeGroupFull
	case errors.Is(err, pcb.ErrInvalidSpec):
		return CodeInvalidSpec
	case errors.Is(err, ErrProtocol):
		return CodeProtocol
	case errors.Is(err, dataplane.ErrClosed):
		return CodeShutdown
	}
	return CodeInternal
}
