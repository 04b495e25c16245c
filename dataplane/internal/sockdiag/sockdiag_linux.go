//go:build linux

package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Socket is one kernel socket.
type Socket struct {
	Proto         uint8 // unix.IPPROTO_TCP or unix.IPPROTO_UDP
	IPv6          bool  // AF_INET6
	V6Only        bool  // IPV6_V6ONLY (INET_DIAG_SKV6ONLY), IPv6 only
	Local, Remote netip.AddrPort
	State         uint8 // TCP state (UDP: TCP_CLOSE unconnected, TCP_ESTABLISHED connected)
	UID, Inode    uint32
}

// dumpTries bounds the retries of a dump the kernel reports as interrupted
// (the socket tables changed under it).
const dumpTries = 5

// Conn is a sock_diag netlink socket opened in one namespace. It is safe for
// concurrent use.
type Conn struct {
	mu sync.Mutex
	sh *nl.SocketHandle
}

// Open opens a sock_diag socket in ns; it lists that namespace's sockets
// whichever namespace later calls run in.
func Open(ns netns.NsHandle) (*Conn, error) {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag socket: %w", err)
	}
	// A dump answers at once; never let a bind hang on it.
	tv := unix.Timeval{Sec: 5}
	if err := errors.Join(s.SetSendTimeout(&tv), s.SetReceiveTimeout(&tv)); err != nil {
		s.Close()
		return nil, fmt.Errorf("sock_diag socket timeouts: %w", err)
	}
	return &Conn{sh: &nl.SocketHandle{Socket: s}}, nil
}

// Close closes the netlink socket.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sh != nil {
		c.sh.Close()
		c.sh = nil
	}
	return nil
}

// Sockets returns the sockets of proto (IPPROTO_TCP or IPPROTO_UDP), both
// families, whose local port is port.
func (c *Conn) Sockets(proto uint8, port uint16) ([]Socket, error) {
	if proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_UDP {
		return nil, fmt.Errorf("sock_diag: protocol %d: want tcp or udp", proto)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sh == nil {
		return nil, fmt.Errorf("sock_diag: %w", net.ErrClosed)
	}
	var out []Socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		var err error
		if out, err = c.dump(out, proto, fam, port); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dump appends the sockets of (proto, fam) on port to out, retrying an
// interrupted dump.
func (c *Conn) dump(out []Socket, proto, fam uint8, port uint16) ([]Socket, error) {
	n := len(out)
	for try := 1; ; try++ {
		out = out[:n]
		req := &nl.NetlinkRequest{
			NlMsghdr: unix.NlMsghdr{
				Len:   unix.SizeofNlMsghdr,
				Type:  nl.SOCK_DIAG_BY_FAMILY,
				Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP,
			},
			Sockets: map[int]*nl.SocketHandle{unix.NETLINK_INET_DIAG: c.sh},
		}
		req.AddData(&diagReq{family: fam, protocol: proto, states: allStates})
		var perr error
		err := req.ExecuteIter(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY, func(msg []byte) bool {
			s, err := parseMsg(msg, proto)
			if err != nil {
				perr = err
				return false
			}
			if s.Local.Port() == port {
				out = append(out, s)
			}
			return true
		})
		if errors.Is(err, nl.ErrDumpInterrupted) && try < dumpTries {
			continue
		}
		if err == nil {
			err = perr
		}
		if err != nil {
			return nil, fmt.Errorf("sock_diag dump (protocol %d, family %d): %w", proto, fam, err)
		}
		return out, nil
	}
}

// allStates asks for sockets in every TCP state (bits 0..12).
const allStates = 1<<13 - 1

// diagReq is struct inet_diag_req_v2 with a zero socket id (a dump).
type diagReq struct {
	family, protocol uint8
	states           uint32
}

const (
	sizeofDiagReq = 56 // inet_diag_req_v2
	sizeofDiagMsg = 72 // inet_diag_msg
	attrV6Only    = 11 // INET_DIAG_SKV6ONLY
)

func (r *diagReq) Len() int { return sizeofDiagReq }

func (r *diagReq) Serialize() []byte {
	b := make([]byte, sizeofDiagReq)
	b[0], b[1] = r.family, r.protocol
	binary.NativeEndian.PutUint32(b[4:], r.states)
	return b
}

// parseMsg decodes an inet_diag_msg and its INET_DIAG_SKV6ONLY attribute.
func parseMsg(msg []byte, proto uint8) (Socket, error) {
	if len(msg) < sizeofDiagMsg {
		return Socket{}, fmt.Errorf("inet_diag_msg of %d bytes, want %d", len(msg), sizeofDiagMsg)
	}
	fam := msg[0]
	s := Socket{
		Proto:  proto,
		IPv6:   fam == unix.AF_INET6,
		State:  msg[1],
		Local:  netip.AddrPortFrom(addrOf(msg[8:24], fam), binary.BigEndian.Uint16(msg[4:])),
		Remote: netip.AddrPortFrom(addrOf(msg[24:40], fam), binary.BigEndian.Uint16(msg[6:])),
		UID:    binary.NativeEndian.Uint32(msg[64:]),
		Inode:  binary.NativeEndian.Uint32(msg[68:]),
	}
	// The attributes, walked here rather than with netlink's
	// ParseRouteAttr, which panics on a truncated one.
	for b := msg[sizeofDiagMsg:]; len(b) >= 4; {
		n := int(binary.NativeEndian.Uint16(b[0:]))
		typ := binary.NativeEndian.Uint16(b[2:])
		if n < 4 || n > len(b) {
			return Socket{}, fmt.Errorf("inet_diag attribute of %d bytes in %d", n, len(b))
		}
		if typ == attrV6Only && n >= 5 {
			s.V6Only = b[4] != 0
		}
		b = b[min((n+3)&^3, len(b)):]
	}
	return s, nil
}

// addrOf converts a diag address: the first 4 bytes for AF_INET, the 16
// (v4-mapped kept) for AF_INET6.
func addrOf(b []byte, fam uint8) netip.Addr {
	if fam == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16]))
}

// StateName returns ss(8)'s name of a socket's state.
func StateName(proto, state uint8) string {
	if proto == unix.IPPROTO_UDP {
		switch state {
		case unix.BPF_TCP_CLOSE:
			return "UNCONN"
		case unix.BPF_TCP_ESTABLISHED:
			return "ESTAB"
		}
	}
	if int(state) < len(tcpStates) && tcpStates[state] != "" {
		return tcpStates[state]
	}
	return fmt.Sprintf("state(%d)", state)
}

var tcpStates = [...]string{
	unix.BPF_TCP_ESTABLISHED:  "ESTAB",
	unix.BPF_TCP_SYN_SENT:     "SYN-SENT",
	unix.BPF_TCP_SYN_RECV:     "SYN-RECV",
	unix.BPF_TCP_FIN_WAIT1:    "FIN-WAIT-1",
	unix.BPF_TCP_FIN_WAIT2:    "FIN-WAIT-2",
	unix.BPF_TCP_TIME_WAIT:    "TIME-WAIT",
	unix.BPF_TCP_CLOSE:        "UNCONN",
	unix.BPF_TCP_CLOSE_WAIT:   "CLOSE-WAIT",
	unix.BPF_TCP_LAST_ACK:     "LAST-ACK",
	unix.BPF_TCP_LISTEN:       "LISTEN",
	unix.BPF_TCP_CLOSING:      "CLOSING",
	unix.BPF_TCP_NEW_SYN_RECV: "NEW-SYN-RECV",
}

// TimeWait reports whether a TCP socket is in TIME-WAIT.
func TimeWait(state uint8) bool { return state == unix.BPF_TCP_TIME_WAIT }
