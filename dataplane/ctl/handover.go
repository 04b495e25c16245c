package ctl

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl/internal/peercred"
	"github.com/xdpmux/xdpmux/pcb"
)

// A takeover (xdpmux run -takeover) moves the control socket to a new
// instance: the old one stops accepting (the listening socket itself is
// handed over, so clients that connect meanwhile wait in its backlog),
// lists its clients' endpoints (HandoverEndpoints), and once the new one
// serves, closes every client connection (CloseHandover). The new one
// binds a parked endpoint for each (Park): it receives the endpoint's
// traffic from the first frame on, within the usual budgets, until the
// client reconnects and binds the same PROTO/ADDR:PORT with the same flags
// as the same uid (Options.Reconnect does that), and takes it over with
// what it has queued. A parked endpoint no client takes within its TTL is
// closed.
//
// Parked endpoints are bound as their clients were: with the client's uid
// as owner and its credentials, through the dataplane's bind checks as
// this instance's policy has them, and counted in the uid's limits
// (endpoints, ports). A reconnecting client takes one only with the same
// uid, and for one bound with CAP_NET_BIND_SERVICE only if it holds the
// capability itself: a takeover neither loses nor widens what a user may
// bind.

// HandoverEndpoint is one client endpoint handed to a new instance.
type HandoverEndpoint struct {
	UID               uint32         `json:"uid"`
	CapNetBindService bool           `json:"cap_net_bind_service"`
	Proto             pcb.Proto      `json:"proto"`
	Local             netip.AddrPort `json:"local"`
	ReusePort         bool           `json:"reuseport"`
	DualStack         bool           `json:"dualstack"`
	Name              string         `json:"name"`
}

// parkKey is what a reconnecting client's bind must match.
type parkKey struct {
	uid       uint32
	proto     pcb.Proto
	local     netip.AddrPort
	reusePort bool
	dualStack bool
}

// parked is an endpoint waiting for its client.
type parked struct {
	key   parkKey
	cap   bool
	ep    *dataplane.Endpoint
	acct  *client // holds the uid's endpoint and port counts (not a connection)
	timer *time.Timer
}

// parkState is the Server's parked endpoints (under Server.mu).
type parkState struct {
	handover bool // accepting stopped for a hand-over
	parked   map[parkKey][]*parked
}

// StopAccepting closes the Server's listeners for a hand-over, without
// disconnecting anyone: Serve returns ErrServerClosed. The caller keeps a
// duplicate of the listening socket (UnixListener.File, after
// SetUnlinkOnClose(false)) to hand over, or to Serve again on if the
// hand-over fails (ResumeAccepting).
func (s *Server) StopAccepting() {
	s.mu.Lock()
	s.park.handover = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
}

// ResumeAccepting undoes StopAccepting: Serve may be called again.
func (s *Server) ResumeAccepting() {
	s.mu.Lock()
	s.park.handover = false
	s.mu.Unlock()
}

// HandoverEndpoints lists the bound client endpoints, and the parked ones,
// for Park in a new instance.
func (s *Server) HandoverEndpoints() []HandoverEndpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []HandoverEndpoint
	for c := range s.clients {
		c.mu.Lock()
		if c.ep != nil {
			sp := c.ep.Spec()
			out = append(out, HandoverEndpoint{UID: c.cred.UID, CapNetBindService: c.cred.CapNetBindService,
				Proto: sp.Proto, Local: sp.Local, ReusePort: sp.ReusePort, DualStack: sp.DualStack, Name: c.ep.Name()})
		}
		c.mu.Unlock()
	}
	for _, ps := range s.park.parked {
		for _, p := range ps {
			sp := p.ep.Spec()
			out = append(out, HandoverEndpoint{UID: p.key.uid, CapNetBindService: p.cap,
				Proto: sp.Proto, Local: sp.Local, ReusePort: sp.ReusePort, DualStack: sp.DualStack, Name: p.ep.Name()})
		}
	}
	return out
}

// CloseHandover is Close for an instance that handed over: clients are
// told (CodeShutdown, "handed over") and disconnected, and reconnect to
// the new instance.
func (s *Server) CloseHandover() error {
	return s.close("xdpmux handed over to a new instance: reconnect")
}

// Park binds a parked endpoint for each of eps, held for ttl (0: the
// Limits' IdleTimeout, at least a second) for its client to reconnect. It
// returns the endpoints that could not be bound, with why (a bind this
// instance's policy refuses, a limit).
func (s *Server) Park(eps []HandoverEndpoint, ttl time.Duration) []error {
	if ttl <= 0 {
		ttl = max(s.Limits.IdleTimeout, time.Second)
	}
	var errs []error
	for _, h := range eps {
		if err := s.park1(h, ttl); err != nil {
			errs = append(errs, fmt.Errorf("park %s (uid %d): %w", h.Name, h.UID, err))
		}
	}
	return errs
}

func (s *Server) park1(h HandoverEndpoint, ttl time.Duration) error {
	spec := pcb.Spec{Proto: h.Proto, Local: h.Local, ReusePort: h.ReusePort, DualStack: h.DualStack,
		Owner: s.owner(h.UID), Name: h.Name}
	acct := &client{cred: peercred.Cred{UID: h.UID, CapNetBindService: h.CapNetBindService}}
	s.mu.Lock()
	if !acct.cred.Privileged() {
		if s.uids[h.UID] == nil {
			s.uids[h.UID] = &uidState{ports: make(map[portKey]int)}
		}
		acct.counted = true
	}
	err := s.claimLocked(acct, portKey{spec.Proto, spec.Local.Port()})
	s.mu.Unlock()
	if err != nil {
		return err
	}
	opts := s.EndpointOptions
	opts.Cred = &dataplane.Cred{UID: h.UID, CapNetBindService: h.CapNetBindService}
	ep, err := s.dp.Bind(spec, opts)
	if err != nil {
		s.mu.Lock()
		s.unclaimLocked(acct)
		s.mu.Unlock()
		return err
	}
	p := &parked{key: parkKey{h.UID, h.Proto, h.Local, h.ReusePort, h.DualStack}, cap: h.CapNetBindService, ep: ep, acct: acct}
	s.mu.Lock()
	if s.park.parked == nil {
		s.park.parked = make(map[parkKey][]*parked)
	}
	s.park.parked[p.key] = append(s.park.parked[p.key], p)
	p.timer = time.AfterFunc(ttl, func() { s.expire(p) })
	s.mu.Unlock()
	s.log().Info("parked endpoint for its client", "endpoint", ep.Name(), "uid", h.UID, "ttl", ttl)
	return nil
}

// expire closes a parked endpoint nobody took.
func (s *Server) expire(p *parked) {
	s.mu.Lock()
	if !s.unparkLocked(p) {
		s.mu.Unlock()
		return
	}
	s.unclaimLocked(p.acct)
	s.mu.Unlock()
	s.log().Info("parked endpoint expired", "endpoint", p.ep.Name())
	p.ep.Close()
}

// unparkLocked removes p from the parked set; false if it was not there.
func (s *Server) unparkLocked(p *parked) bool {
	ps := s.park.parked[p.key]
	for i, q := range ps {
		if q == p {
			ps = append(ps[:i], ps[i+1:]...)
			if len(ps) == 0 {
				delete(s.park.parked, p.key)
			} else {
				s.park.parked[p.key] = ps
			}
			return true
		}
	}
	return false
}

// takeParked gives c a parked endpoint matching its bind, if there is one
// it may take, moving the limit counts to c.
func (s *Server) takeParked(c *client, spec pcb.Spec) *parked {
	key := parkKey{c.cred.UID, spec.Proto, spec.Local, spec.ReusePort, spec.DualStack}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.park.parked[key] {
		if p.cap && !c.cred.CapNetBindService && !c.cred.Privileged() {
			continue
		}
		s.unparkLocked(p)
		p.timer.Stop()
		if p.acct.claimed {
			// The parked endpoint's counts become c's.
			c.claimed, c.port = true, p.acct.port
			p.acct.claimed = false
			if !c.counted {
				// c is root now, the parked endpoint was not: give the
				// counts back.
				c.claimed = false
				p.acct.claimed = true
				s.unclaimLocked(p.acct)
			}
		}
		return p
	}
	return nil
}

// closeParked closes every parked endpoint (Close).
func (s *Server) closeParked() {
	s.mu.Lock()
	var ps []*parked
	for _, l := range s.park.parked {
		ps = append(ps, l...)
	}
	clear(s.park.parked)
	for _, p := range ps {
		p.timer.Stop()
		s.unclaimLocked(p.acct)
	}
	s.mu.Unlock()
	for _, p := range ps {
		p.ep.Close()
	}
}

// Parked is the number of endpoints waiting for their clients.
func (s *Server) Parked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ps := range s.park.parked {
		n += len(ps)
	}
	return n
}
