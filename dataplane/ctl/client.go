package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/pcb"
)

// Options tune Listen.
type Options struct {
	// ReusePort asks to join (or start) the local group of PROTO/ADDR:PORT:
	// allowed only with endpoints of the same owner (the same uid) that
	// also set it.
	ReusePort bool
	// DualStack (IPv6 wildcard only) also receives IPv4 traffic.
	DualStack bool
	// Reconnect makes the Endpoint survive the server going away, as in a
	// takeover (xdpmux run -takeover) or a restart: when the connection
	// ends, ReadBatch and ReadFrom connect again and bind the same spec,
	// retrying for up to ReconnectTimeout, and go on reading. After a
	// takeover the new instance keeps the endpoint's frames for it
	// meanwhile (Server.Park). Reconnects counts them.
	Reconnect bool
	// ReconnectTimeout bounds each reconnection; 0 means 30 s.
	ReconnectTimeout time.Duration
	// HasSlot binds with an explicit Slot in the local group (pcb.Spec):
	// rejoining with the same slot gets back the same flows.
	HasSlot bool
	Slot    uint16
	// HasQueue declares the queue the client lives next to (pcb.Spec):
	// frames arriving on Queue go to the members of the group that
	// declared it, while there are any (queue-local members).
	HasQueue bool
	Queue    uint16
}

// Endpoint is an endpoint bound through the control socket: the client's
// end of one connection. It implements net.PacketConn for reading; WriteTo
// fails (sending is not supported yet). ReadBatch and ReadFrom may be
// called from several goroutines; they take turns.
type Endpoint struct {
	conn   *net.UnixConn // replaced on reconnect, under mu and connMu
	path   string
	spec   string
	flags  byte
	opts   Options
	proto  pcb.Proto
	local  netip.AddrPort
	id     pcb.EndpointID
	name   string
	queues int

	mu      sync.Mutex
	buf     []byte // the last message read
	pending []byte // its records not yet returned
	left    int    // how many records pending holds
	err     error  // sticky: the connection is over
	one     [1]Message

	connMu     sync.Mutex // conn for Close and deadlines; closed; deadline
	closed     bool
	deadline   time.Time
	reconnects atomic.Uint64
}

var _ net.PacketConn = (*Endpoint)(nil)

// Listen connects to the control socket at path and binds spec
// (PROTO/ADDR:PORT, e.g. "udp/0.0.0.0:53") with the caller's uid as owner.
// A refused bind returns an error that matches, with errors.Is,
// pcb.ErrAddrInUse and syscall.EADDRINUSE (the port is taken),
// dataplane.ErrPermission and syscall.EACCES (this user may not bind it),
// syscall.EADDRNOTAVAIL (not a local address), ErrLimit (a limit of the
// server), pcb.ErrGroupFull or pcb.ErrInvalidSpec.
func Listen(path, spec string, opts Options) (*Endpoint, error) {
	proto, local, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	var flags byte
	if opts.ReusePort {
		flags |= FlagReusePort
	}
	if opts.DualStack {
		flags |= FlagDualStack
	}
	if opts.HasSlot {
		flags |= FlagSlot
	}
	if opts.HasQueue {
		flags |= FlagQueue
	}
	e := &Endpoint{path: path, spec: spec, flags: flags, opts: opts, proto: proto, local: local,
		buf: make([]byte, MaxMessage)}
	conn, err := e.bind()
	if err != nil {
		return nil, err
	}
	e.conn = conn
	return e, nil
}

// bind connects and binds e's spec, setting e's ID, queues and name.
func (e *Endpoint) bind() (*net.UnixConn, error) {
	conn, err := dial(e.path)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*net.UnixConn, error) {
		conn.Close()
		return nil, fmt.Errorf("listen %s: %w", e.spec, err)
	}
	buf := e.buf
	if err := request(conn, buf, appendBind(nil, e.spec, e.flags, e.opts.Slot, e.opts.Queue)); err != nil {
		return fail(err)
	}
	body, err := readMessage(conn, buf, TypeBound)
	if err != nil {
		return fail(err)
	}
	if len(body) < 6 {
		return fail(fmt.Errorf("%w: bound message of %d bytes", ErrProtocol, len(body)+HeaderLen))
	}
	e.id = pcb.EndpointID(uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3]))
	e.queues = int(body[4])<<8 | int(body[5])
	e.name = string(body[6:])
	return conn, nil
}

// reconnect replaces e's ended connection with a new one bound to the
// same spec, retrying for up to the reconnect timeout. e.mu held.
func (e *Endpoint) reconnect() error {
	timeout := e.opts.ReconnectTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	backoff := time.Millisecond
	for {
		e.connMu.Lock()
		closed := e.closed
		e.connMu.Unlock()
		if closed {
			return net.ErrClosed
		}
		conn, err := e.bind()
		if err == nil {
			e.connMu.Lock()
			old := e.conn
			e.conn = conn
			closed, dl := e.closed, e.deadline
			e.connMu.Unlock()
			old.Close()
			if closed {
				conn.Close()
				return net.ErrClosed
			}
			conn.SetReadDeadline(dl)
			e.reconnects.Add(1)
			return nil
		}
		// A refusal for a reason other than the server's absence or
		// shutdown (permission, limit, address) will not go away.
		var re *RemoteError
		if errors.As(err, &re) && re.Code != CodeShutdown && re.Code != CodeAddrInUse {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("reconnect: %w", err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

// Reconnects is the number of times the Endpoint reconnected
// (Options.Reconnect).
func (e *Endpoint) Reconnects() uint64 { return e.reconnects.Load() }

func dial(path string) (*net.UnixConn, error) {
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return conn, nil
}

// request sends msg. If the server has closed the connection already (it
// refused the client, e.g. over a limit), it returns the reason the server
// left queued, a *RemoteError, rather than the write's EPIPE.
func request(conn *net.UnixConn, buf, msg []byte) error {
	_, err := conn.Write(msg)
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		var re *RemoteError
		if _, rerr := readMessage(conn, buf, 0); errors.As(rerr, &re) { // no type 0: an Error comes back as one
			return re
		}
	}
	return err
}

// readMessage reads one message into buf and returns its body if its type
// is want. An Error message comes back as a *RemoteError; end of file as
// ErrDisconnected.
func readMessage(conn *net.UnixConn, buf []byte, want byte) ([]byte, error) {
	n, _, flags, _, err := conn.ReadMsgUnix(buf, nil)
	if errors.Is(err, syscall.ECONNRESET) {
		// The server closed with our request unread; the kernel reports
		// that once, before the messages it sent, such as its reason.
		n, _, flags, _, err = conn.ReadMsgUnix(buf, nil)
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrDisconnected
	}
	if flags&syscall.MSG_TRUNC != 0 {
		return nil, fmt.Errorf("%w: message longer than %d bytes", ErrProtocol, len(buf))
	}
	typ, err := header(buf[:n])
	if err != nil {
		return nil, err
	}
	body := buf[HeaderLen:n]
	switch typ {
	case want:
		return body, nil
	case TypeError:
		return nil, parseError(body)
	}
	return nil, fmt.Errorf("%w: message type %d, want %d", ErrProtocol, typ, want)
}

// ID returns the endpoint's ID in the server's dataplane.
func (e *Endpoint) ID() pcb.EndpointID { return e.id }

// Name returns the endpoint's name in the server's stats, e.g.
// "udp/0.0.0.0:53#c7".
func (e *Endpoint) Name() string { return e.name }

// Queues returns the number of queues of the server's dataplane.
func (e *Endpoint) Queues() int { return e.queues }

// ReadBatch waits for frames, then fills msgs with as many as are at hand
// (at least one) and returns how many. The Payload slices point into the
// Endpoint's buffer: they stay valid until the next ReadBatch or ReadFrom
// call. After the server ended the connection it returns an error matching
// ErrDisconnected (and the server's reason, a *RemoteError, if it gave
// one); after Close, net.ErrClosed. Read deadlines apply.
func (e *Endpoint) ReadBatch(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.readBatch(msgs)
}

func (e *Endpoint) readBatch(msgs []Message) (int, error) {
	for e.left == 0 {
		if e.err != nil {
			return 0, e.err
		}
		body, err := readMessage(e.conn, e.buf, TypeFrames)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, err // not sticky: the next read may succeed
			}
			if e.opts.Reconnect && !errors.Is(err, net.ErrClosed) && !errors.Is(err, ErrProtocol) {
				if rerr := e.reconnect(); rerr == nil {
					continue
				} else if errors.Is(rerr, net.ErrClosed) {
					err = rerr
				}
			}
			switch {
			case errors.Is(err, net.ErrClosed):
			case errors.As(err, new(*RemoteError)):
				err = fmt.Errorf("%w: %w", ErrDisconnected, err)
			case errors.Is(err, ErrDisconnected), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
				err = ErrDisconnected
			}
			e.err = err
			return 0, err
		}
		if len(body) < 4 {
			e.err = fmt.Errorf("%w: frames message of %d bytes", ErrProtocol, len(body)+HeaderLen)
			return 0, e.err
		}
		e.left = int(body[0])<<8 | int(body[1])
		e.pending = body[4:]
	}
	n := 0
	for n < len(msgs) && e.left > 0 {
		rest, err := parseFrame(e.pending, &msgs[n])
		if err != nil {
			e.err = err
			e.left = 0
			return n, nil // the next call returns the error
		}
		e.pending = rest
		e.left--
		n++
	}
	if e.left == 0 && len(e.pending) != 0 {
		e.err = fmt.Errorf("%w: %d bytes after the last frame record", ErrProtocol, len(e.pending))
	}
	return n, nil
}

// ReadFrom reads one payload into p (truncating a longer one, as a UDP
// socket does) and returns the remote address: a *net.UDPAddr, or a
// *net.TCPAddr for a TCP endpoint.
func (e *Endpoint) ReadFrom(p []byte) (int, net.Addr, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.readBatch(e.one[:]); err != nil {
		return 0, nil, &net.OpError{Op: "read", Net: e.proto.String(), Addr: e.LocalAddr(), Err: err}
	}
	m := &e.one[0]
	n := copy(p, m.Payload)
	return n, addrOf(e.proto, m.Src), nil
}

func addrOf(p pcb.Proto, ap netip.AddrPort) net.Addr {
	if p == pcb.TCP {
		return net.TCPAddrFromAddrPort(ap)
	}
	return net.UDPAddrFromAddrPort(ap)
}

// WriteTo is not supported: the dataplane does not send yet.
func (e *Endpoint) WriteTo(p []byte, addr net.Addr) (int, error) {
	return 0, &net.OpError{Op: "write", Net: e.proto.String(), Addr: e.LocalAddr(),
		Err: fmt.Errorf("send: %w", dataplane.ErrNotSupported)}
}

// Close ends the connection; the server closes the endpoint.
func (e *Endpoint) Close() error {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	e.closed = true
	return e.conn.Close()
}

// LocalAddr returns the bound address.
func (e *Endpoint) LocalAddr() net.Addr { return addrOf(e.proto, e.local) }

// SetDeadline sets the read deadline.
func (e *Endpoint) SetDeadline(t time.Time) error { return e.SetReadDeadline(t) }

// SetReadDeadline sets the deadline of ReadBatch and ReadFrom.
func (e *Endpoint) SetReadDeadline(t time.Time) error {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	e.deadline = t
	return e.conn.SetReadDeadline(t)
}

// SetWriteDeadline does nothing: writes are not supported.
func (e *Endpoint) SetWriteDeadline(t time.Time) error { return nil }

// Stats asks the server at path for a snapshot of its counters, on a
// connection of its own.
func Stats(path string) (StatsSnapshot, error) {
	c, err := DialStats(path)
	if err != nil {
		return StatsSnapshot{}, err
	}
	defer c.Close()
	return c.Stats()
}

// StatsConn is one connection for repeated Stats requests, as a watcher
// makes: each request restarts the server's idle timeout, and the
// connection is not a client in the server's stats. The server
// rate-limits requests per uid (Limits.StatsPerSecond). Not safe for
// concurrent use.
type StatsConn struct {
	conn *net.UnixConn
	buf  []byte
}

// DialStats connects to the control socket at path for Stats requests.
func DialStats(path string) (*StatsConn, error) {
	conn, err := dial(path)
	if err != nil {
		return nil, err
	}
	return &StatsConn{conn: conn, buf: make([]byte, MaxMessage)}, nil
}

// Stats asks for a snapshot. After an error the connection is unusable:
// the server closes it after any Error (CodeLimit when over the rate).
func (c *StatsConn) Stats() (StatsSnapshot, error) {
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := request(c.conn, c.buf, appendHeader(nil, TypeStats)); err != nil {
		return StatsSnapshot{}, fmt.Errorf("stats: %w", err)
	}
	var doc []byte
	for {
		body, err := readMessage(c.conn, c.buf, TypeStatsReply)
		if err != nil {
			return StatsSnapshot{}, fmt.Errorf("stats: %w", err)
		}
		if len(body) < 1 {
			return StatsSnapshot{}, fmt.Errorf("stats: %w: empty reply", ErrProtocol)
		}
		doc = append(doc, body[1:]...)
		if body[0]&flagMore == 0 {
			break
		}
	}
	var snap StatsSnapshot
	if err := json.Unmarshal(doc, &snap); err != nil {
		return StatsSnapshot{}, fmt.Errorf("stats: %w: %w", ErrProtocol, err)
	}
	return snap, nil
}

// Close closes the connection.
func (c *StatsConn) Close() error { return c.conn.Close() }
