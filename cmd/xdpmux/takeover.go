package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
)

// The takeover protocol, between a running `xdpmux run` (old) and one
// started with -takeover (new), on the unix stream socket beside the
// control socket (takeoverPath, mode 0600). Messages are a 4-byte
// big-endian length and a JSON document; the descriptors travel with the
// first byte of the state message (SCM_RIGHTS).
//
//	new → old  request   {"op":"takeover","pid":N}
//	           old: stop accepting on the control socket, pause the workers,
//	           let the clients' pumps deliver what is queued (drain)
//	old → new  state     the interface, program and sockets, the client
//	                     endpoints, and the descriptors: program and maps,
//	                     a socket and UMEM per queue, the control socket's,
//	                     this socket's and the metrics listeners
//	           new: adopt; bind its own BINDs; park the clients' endpoints
//	new → old  commit    (or {"op":"fail","error":...}: old resumes serving)
//	           old: close without detaching anything, disconnect the clients
//	           (they reconnect to new), exit; new: start the workers
//
// Until the old instance reads commit it can resume: the new one touches
// no ring before sending it.

const takeoverVersion = 1

// takeoverPath is the hand-over socket of the control socket ctlPath.
func takeoverPath(ctlPath string) string { return ctlPath + ".takeover" }

// takeoverMsg is every message of the protocol.
type takeoverMsg struct {
	Op      string `json:"op"` // takeover, state, commit, fail
	Version int    `json:"version,omitempty"`
	PID     int    `json:"pid,omitempty"`
	Error   string `json:"error,omitempty"`

	Interface *dataplane.InterfaceHandover `json:"interface,omitempty"`
	Endpoints []ctl.HandoverEndpoint       `json:"endpoints,omitempty"`
	// Indices into the descriptors after the interface's (-1: none).
	CtlFD      int `json:"ctl_fd"`
	TakeoverFD int `json:"takeover_fd"`
	MetricsFD  int `json:"metrics_fd"`
	NumFDs     int `json:"num_fds"`
	// Withdrawn counts frames still queued on endpoints after the drain,
	// dropped in the hand-over.
	Withdrawn int `json:"withdrawn"`
}

// Timeouts of the protocol.
const (
	takeoverIOTimeout = 10 * time.Second // each message
	takeoverDrain     = 250 * time.Millisecond
	maxTakeoverMsg    = 64 << 20
)

var errTakeoverRefused = errors.New("takeover refused by the running instance")

// writeMsg sends m, with fds attached if any.
func writeMsg(c *net.UnixConn, m *takeoverMsg, fds []int) error {
	doc, err := json.Marshal(m)
	if err != nil {
		return err
	}
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(doc)))
	buf = append(buf, doc...)
	c.SetWriteDeadline(time.Now().Add(takeoverIOTimeout))
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	// The descriptors go with the first byte; the kernel does not merge
	// that segment with others.
	if _, _, err := c.WriteMsgUnix(buf[:1], oob, nil); err != nil {
		return fmt.Errorf("takeover: send %s: %w", m.Op, err)
	}
	if _, err := c.Write(buf[1:]); err != nil {
		return fmt.Errorf("takeover: send %s: %w", m.Op, err)
	}
	return nil
}

// readMsg reads one message and the descriptors that came with it (at most
// maxFDs; any beyond are closed, as are all on error).
func readMsg(c *net.UnixConn, maxFDs int) (*takeoverMsg, []int, error) {
	c.SetReadDeadline(time.Now().Add(takeoverIOTimeout))
	first := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4*max(maxFDs, 1)))
	n, oobn, flags, _, err := c.ReadMsgUnix(first, oob)
	if err != nil {
		return nil, nil, fmt.Errorf("takeover: read: %w", err)
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("takeover: read: %w", io.EOF)
	}
	var fds []int
	if oobn > 0 {
		cms, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, cm := range cms {
				if r, err := unix.ParseUnixRights(&cm); err == nil {
					fds = append(fds, r...)
				}
			}
		}
	}
	fail := func(err error) (*takeoverMsg, []int, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, nil, err
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return fail(errors.New("takeover: descriptors truncated"))
	}
	rest := make([]byte, 3)
	if _, err := io.ReadFull(c, rest); err != nil {
		return fail(fmt.Errorf("takeover: read: %w", err))
	}
	size := binary.BigEndian.Uint32(append(first, rest...))
	if size > maxTakeoverMsg {
		return fail(fmt.Errorf("takeover: message of %d bytes", size))
	}
	doc := make([]byte, size)
	if _, err := io.ReadFull(c, doc); err != nil {
		return fail(fmt.Errorf("takeover: read: %w", err))
	}
	m := new(takeoverMsg)
	if err := json.Unmarshal(doc, m); err != nil {
		return fail(fmt.Errorf("takeover: %w", err))
	}
	return m, fds, nil
}

// listenTakeover creates the hand-over socket for ctlPath, replacing a
// stale one (nobody listening); only root (the owner) may connect.
func listenTakeover(ctlPath string) (*net.UnixListener, error) {
	path := takeoverPath(ctlPath)
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("takeover socket %s: %w: another xdpmux serves it", path, syscall.EADDRINUSE)
		}
		os.Remove(path)
	}
	old := unix.Umask(0o077)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("takeover socket %s: %w", path, err)
	}
	return l, nil
}

// peerAllowed reports whether the peer of c runs as this process's uid
// (or root): the socket's mode already says so, this checks it.
func peerAllowed(c *net.UnixConn) error {
	uid, err := ctl.PeerUID(c)
	if err != nil {
		return err
	}
	if uid != 0 && int(uid) != os.Geteuid() {
		return fmt.Errorf("takeover from uid %d refused", uid)
	}
	return nil
}

// dupListenerFD duplicates the descriptor of a listener without making it
// blocking (File().Fd() would, for the socket the old instance still
// holds). The caller closes the copy.
func dupListenerFD(l syscall.Conn) (int, error) {
	rc, err := l.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", derr)
	}
	return dup, nil
}

// fileListener makes a listener of a received descriptor, which it takes.
func fileListener(fd int, name string) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("takeover: %s listener: %w", name, err)
	}
	return l, nil
}

// sdNotify sends state to systemd's notification socket, if there is one
// (Type=notify units).
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}
