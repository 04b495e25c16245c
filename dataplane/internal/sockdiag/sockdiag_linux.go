//go:build linux

package sockdiag

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Socket is one kernel socket.
type Socket struct {
	Proto         uint8 // unix.IPPROTO_TCP or unix.IPPROTO_UDP
	IPv6          bool  // AF_INET6
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
	h  *netlink.Handle
}

// Open opens a sock_diag socket in ns; it lists that namespace's sockets
// whichever namespace later calls run in.
func Open(ns netns.NsHandle) (*Conn, error) {
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag socket: %w", err)
	}
	return &Conn{h: h}, nil
}

// Close closes the netlink socket.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h != nil {
		c.h.Close()
		c.h = nil
	}
	return nil
}

// Sockets returns the sockets of proto (IPPROTO_TCP or IPPROTO_UDP), both
// families, whose local port is port.
func (c *Conn) Sockets(proto uint8, port uint16) ([]Socket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h == nil {
		return nil, fmt.Errorf("sock_diag: %w", net.ErrClosed)
	}
	var out []Socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := c.dump(proto, fam)
		if err != nil {
			return nil, err
		}
		for _, s := range socks {
			if s.ID.SourcePort != port {
				continue
			}
			out = append(out, Socket{
				Proto:  proto,
				IPv6:   s.Family == unix.AF_INET6,
				Local:  netip.AddrPortFrom(addrOf(s.ID.Source, s.Family), s.ID.SourcePort),
				Remote: netip.AddrPortFrom(addrOf(s.ID.Destination, s.Family), s.ID.DestinationPort),
				State:  s.State,
				UID:    s.UID,
				Inode:  s.INode,
			})
		}
	}
	return out, nil
}

func (c *Conn) dump(proto, fam uint8) ([]*netlink.Socket, error) {
	for try := 1; ; try++ {
		var socks []*netlink.Socket
		var err error
		switch proto {
		case unix.IPPROTO_TCP:
			socks, err = c.h.SocketDiagTCP(fam)
		case unix.IPPROTO_UDP:
			socks, err = c.h.SocketDiagUDP(fam)
		default:
			return nil, fmt.Errorf("sock_diag: protocol %d: want tcp or udp", proto)
		}
		if errors.Is(err, netlink.ErrDumpInterrupted) && try < dumpTries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sock_diag dump (protocol %d, family %d): %w", proto, fam, err)
		}
		return socks, nil
	}
}

// addrOf converts a diag address: IPv4 for AF_INET, the 16 bytes (v4-mapped
// kept) for AF_INET6.
func addrOf(ip net.IP, fam uint8) netip.Addr {
	if fam == unix.AF_INET {
		if v4 := ip.To4(); v4 != nil {
			return netip.AddrFrom4([4]byte(v4))
		}
	}
	if v6 := ip.To16(); v6 != nil {
		return netip.AddrFrom16([16]byte(v6))
	}
	return netip.Addr{}
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
