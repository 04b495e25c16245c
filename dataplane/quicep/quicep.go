package quicep

import (
	"crypto/rand"
	"fmt"
	"net"

	"github.com/quic-go/quic-go"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/localgroup/quiclb"
)

// CIDGenerator is a quic.ConnectionIDGenerator whose IDs carry one server
// ID in a QUIC-LB plaintext layout, with a random nonce. It is safe for
// concurrent use.
type CIDGenerator struct {
	lb  quiclb.Config
	sid uint32
}

var _ quic.ConnectionIDGenerator = (*CIDGenerator)(nil)

// NewCIDGenerator returns a generator for server sid in layout lb. It fails
// for an invalid layout or a server ID that does not fit it.
func NewCIDGenerator(lb quiclb.Config, sid uint32) (*CIDGenerator, error) {
	if err := lb.Validate(); err != nil {
		return nil, err
	}
	if sid > lb.MaxServerID() {
		return nil, fmt.Errorf("%w: server ID %d above %d", quiclb.ErrInvalidConfig, sid, lb.MaxServerID())
	}
	return &CIDGenerator{lb: lb, sid: sid}, nil
}

// GenerateConnectionID returns a new connection ID: the first octet, the
// server ID and a random nonce.
func (g *CIDGenerator) GenerateConnectionID() (quic.ConnectionID, error) {
	var b [quiclb.MaxCIDLen]byte
	cid := b[:g.lb.CIDLen]
	if _, err := rand.Read(cid[1+g.lb.ServerIDLen:]); err != nil {
		return quic.ConnectionID{}, err
	}
	g.lb.Encode(cid, g.sid)
	return quic.ConnectionIDFromBytes(cid), nil
}

// ConnectionIDLen returns the layout's connection ID length.
func (g *CIDGenerator) ConnectionIDLen() int { return g.lb.CIDLen }

// ServerID returns the server ID the generator writes.
func (g *CIDGenerator) ServerID() uint32 { return g.sid }

// Conn is a net.PacketConn with no-op SetReadBuffer and SetWriteBuffer:
// quic-go asks for larger socket buffers, which an xdpmux endpoint (ring
// sized at bind) does not have.
type Conn struct{ net.PacketConn }

// SetReadBuffer does nothing.
func (Conn) SetReadBuffer(int) error { return nil }

// SetWriteBuffer does nothing.
func (Conn) SetWriteBuffer(int) error { return nil }

// NewTransport returns a quic.Transport over ep's PacketConn whose
// connection IDs carry ep's server ID (Endpoint.ServerID, in the layout
// Endpoint.QUICLayout). Closing the transport does not close its Conn:
// close Transport.Conn too, which closes the endpoint (it leaves the group).
// resetKey may be nil (no stateless resets); members of one group that
// share a key reset, at once, connections they do not know, such as those
// of a member that has gone. It fails if ep has no server ID (not in a
// local group, or an ID beyond the layout).
func NewTransport(ep *dataplane.Endpoint, resetKey *quic.StatelessResetKey) (*quic.Transport, error) {
	sid, ok := ep.ServerID()
	if !ok {
		return nil, fmt.Errorf("endpoint %s: no QUIC server ID (not in a local group, or beyond the layout)", ep.Name())
	}
	gen, err := NewCIDGenerator(ep.QUICLayout(), sid)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", ep.Name(), err)
	}
	return &quic.Transport{
		Conn:                  Conn{ep.PacketConn()},
		ConnectionIDGenerator: gen,
		StatelessResetKey:     resetKey,
	}, nil
}
