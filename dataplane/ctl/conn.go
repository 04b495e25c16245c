package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl/internal/peercred"
	"github.com/xdpmux/xdpmux/dataplane/ctl/internal/sockio"
	"github.com/xdpmux/xdpmux/pcb"
)

// serveConn runs one connection: admission, the request loop, and after a
// Bind the frame pump on its own goroutine.
func (s *Server) serveConn(c *client) {
	defer s.wg.Done()
	var pumpDone chan struct{}
	log := s.log().With("client", c.id)
	defer func() {
		sockio.Discard(c.conn, 16) // so the client reads our last word, not ECONNRESET
		c.conn.Close()
		ep := c.endpoint()
		if ep != nil {
			if err := ep.Close(); err != nil {
				log.Warn("control client endpoint close", "err", err)
			}
		}
		if pumpDone != nil {
			<-pumpDone
		}
		s.mu.Lock()
		delete(s.clients, c)
		s.releaseLocked(c)
		s.mu.Unlock()
		if ep != nil {
			log.Info("control client unbound", "endpoint", ep.Name(), "sent", c.sent.Load(), "dropped", c.dropped.Load())
		} else {
			log.Debug("control client gone")
		}
	}()
	cred, err := peercred.Of(c.conn)
	if err != nil {
		s.reject(c, log, CodeInternal, err)
		return
	}
	c.cred = cred
	log = log.With("pid", cred.PID, "uid", cred.UID)
	if err := s.admit(c); err != nil {
		s.reject(c, log, CodeLimit, err)
		return
	}
	log.Debug("control client connected", "cap_net_bind_service", cred.CapNetBindService, "pidfd", cred.PIDFD)

	buf := make([]byte, MaxRequest)
	for {
		idle := s.Limits.IdleTimeout
		unbound := c.endpoint() == nil
		if unbound && idle > 0 {
			c.conn.SetReadDeadline(time.Now().Add(idle))
		}
		n, _, flags, _, err := c.conn.ReadMsgUnix(buf, nil)
		if err != nil || n == 0 {
			var ne net.Error
			switch {
			case err == nil, errors.Is(err, net.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			case unbound && errors.As(err, &ne) && ne.Timeout():
				err := limitError("idle_timeout", idle)
				log.Debug("control client idle", "err", err)
				s.reply(c, appendError(nil, CodeLimit, err.Error()))
			default:
				log.Debug("control client read", "err", err)
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
		if !unbound {
			s.reject(c, log, CodeProtocol, fmt.Errorf("%w: message type %d after bind", ErrProtocol, typ))
			return
		}
		switch typ {
		case TypeStats:
			if len(msg) != HeaderLen {
				s.reject(c, log, CodeProtocol, fmt.Errorf("%w: stats request with a body", ErrProtocol))
				return
			}
			if err := s.allowStats(c); err != nil {
				s.reject(c, log, CodeLimit, err)
				return
			}
			log.Debug("control client stats")
			if err := s.sendStats(c); err != nil {
				log.Debug("control client stats", "err", err)
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
			c.conn.SetReadDeadline(time.Time{}) // bound: no idle timeout
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

func (c *client) endpoint() *dataplane.Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ep
}

// reply writes msg to c, waiting at most replyTimeout.
func (s *Server) reply(c *client, msg []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(replyTimeout))
	_, err := c.conn.Write(msg)
	return err
}

// reject tells the client why it is disconnected.
func (s *Server) reject(c *client, log *slog.Logger, code byte, err error) {
	log.Warn("control client refused", "code", code, "err", err)
	s.reply(c, appendError(nil, code, err.Error()))
}

// bind binds the client's endpoint and answers Bound.
func (s *Server) bind(c *client, req bindRequest) (*dataplane.Endpoint, error) {
	spec := pcb.Spec{
		Proto:     req.Proto,
		Local:     req.Local,
		ReusePort: req.Flags&FlagReusePort != 0,
		DualStack: req.Flags&FlagDualStack != 0,
		HasSlot:   req.Flags&FlagSlot != 0,
		Slot:      req.Slot,
		HasQueue:  req.Flags&FlagQueue != 0,
		Queue:     req.Queue,
		Owner:     s.owner(c.cred.UID),
	}
	spec.Name = fmt.Sprintf("%s#c%d", spec, c.id)
	if p := s.takeParked(c, spec); p != nil {
		// A client back after a takeover: it gets the endpoint parked
		// for it, and what is queued there.
		c.mu.Lock()
		c.ep = p.ep
		c.mu.Unlock()
		if err := s.reply(c, appendBound(nil, p.ep.ID(), s.dp.Queues(), p.ep.Name())); err != nil {
			return p.ep, fmt.Errorf("bind %s: answering: %w", spec, err)
		}
		return p.ep, nil
	}
	s.mu.Lock()
	err := s.claimLocked(c, portKey{spec.Proto, spec.Local.Port()})
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", spec, err)
	}
	opts := s.EndpointOptions
	// The dataplane checks the bind as the kernel would check the peer's
	// (docs/SECURITY.md); uid 0 is privileged whatever its capabilities.
	cred := &dataplane.Cred{UID: c.cred.UID, CapNetBindService: c.cred.CapNetBindService}
	opts.Cred = cred
	ep, err := s.dp.Bind(spec, opts)
	if err != nil {
		s.mu.Lock()
		s.unclaimLocked(c)
		s.mu.Unlock()
		// The dataplane's error names the spec already.
		switch {
		case spec.ReusePort && errors.Is(err, pcb.ErrAddrInUse):
			err = fmt.Errorf("%w (a reuseport group takes only endpoints of one owner; yours is %s)", err, spec.Owner)
		case codeOf(err) == CodePermission:
			err = fmt.Errorf("%w (uid %d, CAP_NET_BIND_SERVICE %v)", err, cred.UID, cred.CapNetBindService)
		}
		return nil, err
	}
	c.mu.Lock()
	c.ep = ep
	c.mu.Unlock()
	if err := s.reply(c, appendBound(nil, ep.ID(), s.dp.Queues(), ep.Name())); err != nil {
		return ep, fmt.Errorf("bind %s: answering: %w", spec, err)
	}
	return ep, nil
}

// sendStats answers a Stats request, in parts of at most MaxMessage bytes.
func (s *Server) sendStats(c *client) error {
	snap, err := s.Snapshot()
	if err != nil {
		s.reply(c, appendError(nil, CodeInternal, err.Error()))
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
		if err := s.reply(c, m); err != nil {
			return err
		}
		doc = doc[n:]
		if len(doc) == 0 {
			return nil
		}
	}
}

// sendShutdown tells c the server is going away, trying for at most
// closeTimeout while its buffer is full, and closes c. It polls with
// non-blocking sends rather than setting a write deadline, which a reply
// in flight on another goroutine could move.
func sendShutdown(c *client, msg []byte) {
	deadline := time.Now().Add(closeTimeout)
	for errors.Is(sockio.SendNoWait(c.conn, msg), sockio.ErrWouldBlock) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c.conn.Close()
}
