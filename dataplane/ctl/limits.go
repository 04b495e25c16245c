package ctl

import (
	"fmt"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/ctl/internal/sockio"
	"github.com/xdpmux/xdpmux/pcb"
)

// Limits bound what local users can take of the server. uid 0 is exempt
// from all but IdleTimeout (root can exhaust the daemon in other ways
// anyway). A field <= 0 means no limit. A client over a limit is answered
// with Error (CodeLimit, naming the limit) and disconnected; the limit's
// error matches ErrLimit.
type Limits struct {
	// ConnsPerUID caps the concurrent connections of one uid. Default 64:
	// a process needs one per endpoint and one per stats request in
	// flight, and 64 leaves room for a few dozen endpoints while one user
	// cannot hold more than 64 of the daemon's descriptors.
	ConnsPerUID int
	// Conns caps the concurrent connections of all non-root uids
	// together, so that many users (or many uids of one attacker) cannot
	// exhaust the descriptors root's clients, the dataplane's sockets and
	// /metrics need. Default: 1024, or half of RLIMIT_NOFILE if that is
	// less (at least 16).
	Conns int
	// EndpointsPerUID caps the endpoints one uid has bound at a time.
	// Default 32: each holds delivery rings (Config.RingSize frames of
	// descriptors per queue) and a pump goroutine.
	EndpointsPerUID int
	// PortsPerUID caps the distinct (protocol, port) pairs one uid's
	// endpoints hold at a time; members of one reuseport group, or one
	// port bound on two addresses, count once. Default 16: enough for a
	// service's ports, not for squatting on a range other users need.
	PortsPerUID int
	// IdleTimeout closes a connection that stays unbound and sends no
	// request for this long (every Stats request restarts it, so a
	// connection polling stats stays). Default 10 s: `xdpmux stats` and a
	// Listen send their request at once; an idle connection only holds a
	// descriptor.
	IdleTimeout time.Duration
	// StatsPerSecond and StatsBurst rate-limit Stats requests per uid (a
	// token bucket shared by all its connections): a snapshot walks every
	// queue and endpoint and is marshalled to JSON. Default 5 a second,
	// bursts of 20: `xdpmux stats -watch` asks once a second.
	StatsPerSecond float64
	StatsBurst     int
	// LogPerSecond caps the records the server logs a second (see
	// Server.Logger); the rest are counted and reported as "suppressed N
	// records". Default 20.
	LogPerSecond int
}

// DefaultLimits returns the limits NewServer starts with (see Limits for
// each default and why).
func DefaultLimits() Limits {
	conns := 1024
	if n := sockio.FileLimit(); n > 0 && n/2 < uint64(conns) {
		conns = max(int(n/2), 16)
	}
	return Limits{
		ConnsPerUID:     64,
		Conns:           conns,
		EndpointsPerUID: 32,
		PortsPerUID:     16,
		IdleTimeout:     10 * time.Second,
		StatsPerSecond:  5,
		StatsBurst:      20,
		LogPerSecond:    20,
	}
}

// limitError is the error of a refused request: it names the limit.
func limitError(name string, value any) error {
	return fmt.Errorf("%w: %s (%v)", ErrLimit, name, value)
}

// portKey is a claimed (protocol, port) pair.
type portKey struct {
	proto pcb.Proto
	port  uint16
}

// uidState is what one non-root uid holds. Server.mu guards it.
type uidState struct {
	conns     int
	endpoints int
	ports     map[portKey]int // claimed pairs, by number of endpoints on each
	tokens    float64         // Stats token bucket
	refilled  time.Time
}

// takeToken spends one token of a bucket of rate per second and burst,
// refilled up to now.
func (u *uidState) takeToken(now time.Time, rate float64, burst int) bool {
	if rate <= 0 {
		return true
	}
	b := float64(max(burst, 1))
	if u.refilled.IsZero() {
		u.tokens = b
	} else {
		u.tokens = min(b, u.tokens+now.Sub(u.refilled).Seconds()*rate)
	}
	u.refilled = now
	if u.tokens < 1 {
		return false
	}
	u.tokens--
	return true
}

// idle reports whether u holds nothing worth keeping at now: no
// connection, and a full bucket.
func (u *uidState) idle(now time.Time, rate float64, burst int) bool {
	if u.conns > 0 || u.endpoints > 0 {
		return false
	}
	return rate <= 0 || u.refilled.IsZero() || u.tokens+now.Sub(u.refilled).Seconds()*rate >= float64(max(burst, 1))
}

// admit counts c against its uid's and the global connection limits.
func (s *Server) admit(c *client) error {
	if c.cred.Privileged() {
		return nil
	}
	lim := &s.Limits
	s.mu.Lock()
	defer s.mu.Unlock()
	if lim.Conns > 0 && s.nonRoot >= lim.Conns {
		return limitError("conns, all non-root uids", lim.Conns)
	}
	u := s.uids[c.cred.UID]
	if u == nil {
		u = &uidState{ports: make(map[portKey]int)}
		s.uids[c.cred.UID] = u
	}
	if lim.ConnsPerUID > 0 && u.conns >= lim.ConnsPerUID {
		return limitError("conns_per_uid", lim.ConnsPerUID)
	}
	u.conns++
	s.nonRoot++
	c.counted = true
	return nil
}

// allowStats spends a token of c's uid's Stats bucket.
func (s *Server) allowStats(c *client) error {
	if !c.counted {
		return nil // root
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.uids[c.cred.UID].takeToken(time.Now(), s.Limits.StatsPerSecond, s.Limits.StatsBurst) {
		return limitError("stats_per_second", s.Limits.StatsPerSecond)
	}
	return nil
}

// claimLocked counts an endpoint on key against c's uid's limits.
func (s *Server) claimLocked(c *client, key portKey) error {
	if !c.counted {
		return nil
	}
	u := s.uids[c.cred.UID]
	lim := &s.Limits
	if lim.EndpointsPerUID > 0 && u.endpoints >= lim.EndpointsPerUID {
		return limitError("endpoints_per_uid", lim.EndpointsPerUID)
	}
	if lim.PortsPerUID > 0 && u.ports[key] == 0 && len(u.ports) >= lim.PortsPerUID {
		return limitError("ports_per_uid", lim.PortsPerUID)
	}
	u.endpoints++
	u.ports[key]++
	c.port = key
	c.claimed = true
	return nil
}

// unclaimLocked undoes claimLocked.
func (s *Server) unclaimLocked(c *client) {
	if !c.claimed {
		return
	}
	c.claimed = false
	u := s.uids[c.cred.UID]
	u.endpoints--
	if u.ports[c.port]--; u.ports[c.port] == 0 {
		delete(u.ports, c.port)
	}
}

// releaseLocked returns what c held of its uid's limits.
func (s *Server) releaseLocked(c *client) {
	if !c.counted {
		return
	}
	s.unclaimLocked(c)
	c.counted = false
	u := s.uids[c.cred.UID]
	u.conns--
	s.nonRoot--
	if u.idle(time.Now(), s.Limits.StatsPerSecond, s.Limits.StatsBurst) {
		delete(s.uids, c.cred.UID)
	}
}
