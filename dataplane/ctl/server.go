package ctl

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl/internal/peercred"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

// Server serves the control protocol on a Dataplane. Set its exported
// fields before the first Serve. Its methods are safe for concurrent use.
type Server struct {
	// OwnerFunc maps a client's uid (from SO_PEERCRED) to the owner its
	// endpoint is bound with; nil means pcb.UIDOwner. Tests use it to
	// simulate clients of different users.
	OwnerFunc func(uid uint32) pcb.Owner
	// Logger gets one record per client event (connect, bind, error,
	// disconnect); nil discards them.
	Logger *slog.Logger
	// EndpointOptions are given to every client endpoint's Bind.
	EndpointOptions dataplane.EndpointOptions

	dp     *dataplane.Dataplane
	info   func() any
	ctx    context.Context
	cancel context.CancelFunc
	seq    atomic.Uint64

	mu        sync.Mutex
	closed    bool
	listeners map[*net.UnixListener]struct{}
	clients   map[*client]struct{}
	wg        sync.WaitGroup
}

// client is one connection.
type client struct {
	id   uint64
	conn *net.UnixConn
	cred peercred.Cred
	sent atomic.Uint64

	mu sync.Mutex
	ep *dataplane.Endpoint
}

// NewServer returns a Server binding client endpoints on dp. info, if not
// nil, is called for each Stats request and its result, marshalled to
// JSON, becomes StatsSnapshot.Info.
func NewServer(dp *dataplane.Dataplane, info func() any) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		dp:        dp,
		info:      info,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[*net.UnixListener]struct{}),
		clients:   make(map[*client]struct{}),
	}
}

// ListenUnix creates the control socket at path: it creates the directory
// (mode 0755) if needed, removes a stale socket file that nobody listens
// on, listens (SOCK_SEQPACKET) and makes the socket mode 0666. It refuses
// to replace a socket another process serves, or a file that is not a
// socket. Closing the listener removes the file.
func ListenUnix(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unixpacket", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: %w: another xdpmux serves it", path, syscall.EADDRINUSE)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: removing stale socket: %w", path, err)
		}
	}
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return l, nil
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) owner(uid uint32) pcb.Owner {
	if s.OwnerFunc != nil {
		return s.OwnerFunc(uid)
	}
	return pcb.UIDOwner(uid)
}

// Serve accepts connections on l until Close (then it returns
// ErrServerClosed) or until Accept fails. Serve closes l when it returns.
func (s *Server) Serve(l *net.UnixListener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var backoff time.Duration
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors: wait, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log().Warn("control socket accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("control socket accept: %w", err)
		}
		backoff = 0
		c := &client{id: s.seq.Add(1), conn: conn}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return ErrServerClosed
		}
		s.clients[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops accepting, disconnects every client (closing its endpoint)
// and waits until every connection's goroutines are gone. It does not
// close the Dataplane. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.clients {
		// Best effort: a client whose buffer is full misses the reason.
		c.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		c.conn.Write(appendError(nil, CodeShutdown, "xdpmux is shutting down"))
		c.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Clients describes the connected clients, by connection order.
func (s *Server) Clients() []ClientInfo {
	s.mu.Lock()
	out := make([]ClientInfo, 0, len(s.clients))
	for c := range s.clients {
		ci := ClientInfo{ID: c.id, PID: c.cred.PID, UID: c.cred.UID, Sent: c.sent.Load()}
		c.mu.Lock()
		if c.ep != nil {
			ci.Endpoint = c.ep.Name()
		}
		c.mu.Unlock()
		out = append(out, ci)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b ClientInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Snapshot builds the answer to a Stats request.
func (s *Server) Snapshot() (StatsSnapshot, error) {
	st := s.dp.Stats()
	snap := StatsSnapshot{Time: time.Now().UTC(), Policy: s.dp.Policy().String(), Clients: s.Clients()}
	snap.Queues, snap.Totals, snap.Endpoints = FromDataplane(st)
	if s.info != nil {
		raw, err := json.Marshal(s.info())
		if err != nil {
			return StatsSnapshot{}, fmt.Errorf("stats info: %w", err)
		}
		snap.Info = raw
	}
	return snap, nil
}

// serveConn runs one connection: the request loop, and after a Bind the
// frame pump on its own goroutine.
func (s *Server) serveConn(c *client) {
	defer s.wg.Done()
	var pumpDone chan struct{}
	defer func() {
		c.conn.Close()
		c.mu.Lock()
		ep := c.ep
		c.mu.Unlock()
		if ep != nil {
			if err := ep.Close(); err != nil {
				s.log().Warn("control client endpoint close", "client", c.id, "err", err)
			}
		}
		if pumpDone != nil {
			<-pumpDone
		}
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
		s.log().Info("control client gone", "client", c.id, "pid", c.cred.PID, "uid", c.cred.UID, "sent", c.sent.Load())
	}()
	cred, err := peercred.Of(c.conn)
	if err != nil {
		s.log().Warn("control client rejected", "client", c.id, "err", err)
		c.conn.Write(appendError(nil, CodeInternal, err.Error()))
		return
	}
	c.cred = cred
	log := s.log().With("client", c.id, "pid", cred.PID, "uid", cred.UID)
	log.Info("control client connected")

	buf := make([]byte, MaxRequest)
	for {
		n, _, flags, _, err := c.conn.ReadMsgUnix(buf, nil)
		if err != nil || n == 0 {
			if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				log.Warn("control client read", "err", err)
			}
			return
		}
		if flags&syscall.MSG_TRUNC != 0 {
			s.reject(c, log, CodeProtocol, fmt.Errorf("%w: message longer than %d bytes", ErrProtocol, MaxRequest))
			return
		}
		msg := buf[:n]
		typ, err := header(msg)
		if err != nil {
			s.reject(c, log, CodeProtocol, err)
			return
		}
		c.mu.Lock()
		bound := c.ep != nil
		c.mu.Unlock()
		if bound {
			s.reject(c, log, CodeProtocol, fmt.Errorf("%w: message type %d after bind", ErrProtocol, typ))
			return
		}
		switch typ {
		case TypeStats:
			if len(msg) != HeaderLen {
				s.reject(c, log, CodeProtocol, fmt.Errorf("%w: stats request with a body", ErrProtocol))
				return
			}
			if err := s.sendStats(c); err != nil {
				log.Warn("control client stats", "err", err)
				return
			}
		case TypeBind:
			req, err := parseBind(msg[HeaderLen:])
			if err != nil {
				s.reject(c, log, codeOf(err), err)
				return
			}
			ep, err := s.bind(c, req)
			if err != nil {
				s.reject(c, log, codeOf(err), err)
				return
			}
			log.Info("control client bound", "endpoint", ep.Name(), "id", ep.ID())
			pumpDone = make(chan struct{})
			go func() {
				defer close(pumpDone)
				s.pump(c, ep, log)
			}()
		default:
			s.reject(c, log, CodeProtocol, fmt.Errorf("%w: unknown message type %d", ErrProtocol, typ))
			return
		}
	}
}

// reject tells the client why it is disconnected.
func (s *Server) reject(c *client, log *slog.Logger, code byte, err error) {
	log.Warn("control client disconnected", "err", err)
	c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	c.conn.Write(appendError(nil, code, err.Error()))
}

// bind binds the client's endpoint and answers Bound.
func (s *Server) bind(c *client, req bindRequest) (*dataplane.Endpoint, error) {
	spec := pcb.Spec{
		Proto:     req.Proto,
		Local:     req.Local,
		ReusePort: req.Flags&FlagReusePort != 0,
		DualStack: req.Flags&FlagDualStack != 0,
		Owner:     s.owner(c.cred.UID),
	}
	spec.Name = fmt.Sprintf("%s#c%d", spec, c.id)
	ep, err := s.dp.Bind(spec, s.EndpointOptions)
	if err != nil {
		// The dataplane's error names the spec already.
		if spec.ReusePort && errors.Is(err, pcb.ErrAddrInUse) {
			err = fmt.Errorf("%w (a reuseport group takes only endpoints of one owner; yours is %s)", err, spec.Owner)
		}
		return nil, err
	}
	c.mu.Lock()
	c.ep = ep
	c.mu.Unlock()
	if _, err := c.conn.Write(appendBound(nil, ep.ID(), s.dp.Queues(), ep.Name())); err != nil {
		return ep, fmt.Errorf("bind %s: answering: %w", spec, err)
	}
	return ep, nil
}

// pump copies frames from ep to the client until ep closes or a write
// fails. Every batch is copied out and released before the first write,
// so a slow client never holds UMEM frames.
func (s *Server) pump(c *client, ep *dataplane.Endpoint, log *slog.Logger) {
	batch := make([]dataplane.Frame, rxq.BatchSize)
	var msgs [][]byte // reused message buffers
	proto := ep.Spec().Proto
	for {
		n, err := ep.Receive(s.ctx, batch)
		if err != nil {
			return
		}
		nmsg := 0
		var cur []byte
		count := 0
		finish := func() {
			if cur != nil {
				putCount(cur, count)
				msgs[nmsg] = cur
				nmsg++
			}
		}
		for i := range batch[:n] {
			f := &batch[i]
			if cur == nil || len(cur)+frameRecordLen(f) > MaxMessage {
				finish()
				if nmsg == len(msgs) {
					msgs = append(msgs, make([]byte, 0, MaxMessage))
				}
				cur = appendHeader(msgs[nmsg][:0], TypeFrames)
				cur = append(cur, 0, 0, 0, 0) // count, reserved
				count = 0
			}
			cur = appendFrame(cur, proto, f)
			count++
		}
		finish()
		ep.Release(batch[:n])
		for _, m := range msgs[:nmsg] {
			if _, err := c.conn.Write(m); err != nil {
				if !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
					log.Warn("control client write", "err", err)
				}
				c.conn.Close() // ends the request loop, which closes ep
				return
			}
		}
		c.sent.Add(uint64(n))
	}
}

func putCount(msg []byte, count int) {
	msg[HeaderLen] = byte(count >> 8)
	msg[HeaderLen+1] = byte(count)
}

// sendStats answers a Stats request, in parts of at most MaxMessage bytes.
func (s *Server) sendStats(c *client) error {
	snap, err := s.Snapshot()
	if err != nil {
		c.conn.Write(appendError(nil, CodeInternal, err.Error()))
		return err
	}
	doc, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	const part = MaxMessage - HeaderLen - 1
	for {
		n := min(len(doc), part)
		flags := byte(0)
		if n < len(doc) {
			flags = flagMore
		}
		m := appendHeader(make([]byte, 0, HeaderLen+1+n), TypeStatsReply)
		m = append(m, flags)
		m = append(m, doc[:n]...)
		if _, err := c.conn.Write(m); err != nil {
			return err
		}
		doc = doc[n:]
		if len(doc) == 0 {
			return nil
		}
	}
}
