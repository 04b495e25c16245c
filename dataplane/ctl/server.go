package ctl

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/xdpmux/xdpmux/dataplane/ctl/internal/ratelog"
	"github.com/xdpmux/xdpmux/pcb"
)

// Server serves the control protocol on a Dataplane. Set its exported
// fields before the first Serve. Its methods are safe for concurrent use.
type Server struct {
	// OwnerFunc maps a client's uid (from SO_PEERCRED) to the owner its
	// endpoint is bound with; nil means pcb.UIDOwner. Tests use it to
	// simulate clients of different users.
	OwnerFunc func(uid uint32) pcb.Owner
	// Logger gets the server's records, at most Limits.LogPerSecond a
	// second: binds, unbinds and refusals at Info and Warn; connections
	// coming and going, stats requests and idle timeouts at Debug. nil
	// discards them.
	Logger *slog.Logger
	// EndpointOptions are given to every client endpoint's Bind (NewServer
	// sets RingSize to DefaultRingSize).
	EndpointOptions dataplane.EndpointOptions
	// Limits bound what local users can take (NewServer sets
	// DefaultLimits).
	Limits Limits

	dp     *dataplane.Dataplane
	info   func() any
	ctx    context.Context
	cancel context.CancelFunc
	seq    atomic.Uint64

	logOnce sync.Once
	logger  *slog.Logger

	mu        sync.Mutex
	closed    bool
	listeners map[acceptor]struct{}
	clients   map[*client]struct{}
	uids      map[uint32]*uidState // non-root uids
	nonRoot   int                  // connections of non-root uids
	park      parkState            // takeover: parked endpoints (handover.go)
	wg        sync.WaitGroup
}

// acceptor is what Serve needs of a listener (*net.UnixListener).
type acceptor interface {
	AcceptUnix() (*net.UnixConn, error)
	Close() error
}

var _ acceptor = (*net.UnixListener)(nil)

// client is one connection.
type client struct {
	id      uint64
	conn    *net.UnixConn
	cred    peercred.Cred
	counted bool    // in Server.uids and nonRoot (Server.mu)
	claimed bool    // an endpoint on port counted in Server.uids (Server.mu)
	port    portKey // the (protocol, port) claimed
	sent    atomic.Uint64
	dropped atomic.Uint64

	mu sync.Mutex
	ep *dataplane.Endpoint
}

// replyTimeout bounds a reply write (Bound, Stats, Error) to a client
// that does not read.
const replyTimeout = 5 * time.Second

// closeTimeout bounds the shutdown message to each client in Close.
const closeTimeout = 100 * time.Millisecond

// DefaultRingSize is the delivery ring size of a client's endpoint, per
// queue: twice the dataplane's default, because a client's frames wait for
// the pump's copy and the client's read, and a burst that lands unevenly on
// the queues must fit while they do. The frame budgets (docs/DATAPLANE.md),
// not the ring, bound what one client can keep of a queue's UMEM.
const DefaultRingSize = 2 * dataplane.DefaultRingSize

// NewServer returns a Server binding client endpoints on dp. info, if not
// nil, is called for each Stats request and its result, marshalled to
// JSON, becomes StatsSnapshot.Info.
func NewServer(dp *dataplane.Dataplane, info func() any) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		Limits:          DefaultLimits(),
		EndpointOptions: dataplane.EndpointOptions{RingSize: DefaultRingSize},
		dp:              dp,
		info:            info,
		ctx:             ctx,
		cancel:          cancel,
		listeners:       make(map[acceptor]struct{}),
		clients:         make(map[*client]struct{}),
		uids:            make(map[uint32]*uidState),
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

// log returns the rate-limited logger.
func (s *Server) log() *slog.Logger {
	s.logOnce.Do(func() {
		if s.Logger == nil {
			s.logger = slog.New(slog.DiscardHandler)
			return
		}
		s.logger = slog.New(ratelog.New(s.Logger.Handler(), s.Limits.LogPerSecond))
	})
	return s.logger
}

func (s *Server) owner(uid uint32) pcb.Owner {
	if s.OwnerFunc != nil {
		return s.OwnerFunc(uid)
	}
	return pcb.UIDOwner(uid)
}

// Serve accepts connections on l until l is closed: by Close (then it
// returns ErrServerClosed) or by someone else (then an error matching
// net.ErrClosed). Any other accept error (out of descriptors, memory, a
// connection aborted before it was accepted) is logged and retried after
// a backoff of 5 ms doubling up to 1 s. Serve closes l when it returns.
func (s *Server) Serve(l *net.UnixListener) error {
	return s.serve(l)
}

func (s *Server) serve(l acceptor) error {
	s.log() // fix the logger before any connection's goroutine uses it
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
			if s.isClosed() || s.handingOver() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("control socket accept: %w", err)
			}
			// Transient (EMFILE, ENFILE, ENOMEM, ECONNABORTED, ...): wait,
			// as net/http does, so a persistent error does not spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log().Warn("control socket accept", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
			}
			continue
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

func (s *Server) handingOver() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.park.handover
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops accepting, disconnects every client (closing its endpoint)
// and waits until every connection's goroutines are gone. Clients are
// told and closed concurrently, each given closeTimeout (100 ms) for the
// shutdown message, so clients that do not read cannot delay it. It does
// not close the Dataplane. It is idempotent.
func (s *Server) Close() error { return s.close("xdpmux is shutting down") }

func (s *Server) close(why string) error {
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
	clients := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	msg := appendError(nil, CodeShutdown, why)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { sendShutdown(c, msg) })
	}
	wg.Wait()
	s.wg.Wait()
	s.closeParked()
	return nil
}

// Clients describes the clients that have bound an endpoint, by
// connection order. Connections that only ask for stats are not listed.
func (s *Server) Clients() []ClientInfo {
	s.mu.Lock()
	out := make([]ClientInfo, 0, len(s.clients))
	for c := range s.clients {
		c.mu.Lock()
		if c.ep != nil {
			out = append(out, ClientInfo{ID: c.id, PID: c.cred.PID, UID: c.cred.UID, Endpoint: c.ep.Name(),
				Sent: c.sent.Load(), Dropped: c.dropped.Load()})
		}
		c.mu.Unlock()
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b ClientInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Snapshot builds the answer to a Stats request.
func (s *Server) Snapshot() (StatsSnapshot, error) {
	st := s.dp.Stats()
	snap := StatsSnapshot{Time: time.Now().UTC(), Policy: s.dp.Policy().String(), Hash: s.dp.HashMode(), Clients: s.Clients()}
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
