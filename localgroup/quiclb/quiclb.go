package quiclb

import (
	"errors"
	"fmt"
)

// Limits of the QUIC-LB plaintext layout.
const (
	// MaxCIDLen is the longest QUIC connection ID (RFC 9000 section 17.2).
	MaxCIDLen = 20
	// MaxServerIDLen is the longest server ID the draft allows.
	MaxServerIDLen = 15
	// MinNonceLen is the shortest nonce the draft allows: fewer random
	// octets make the IDs of one server linkable and collide.
	MinNonceLen = 4
	// Unroutable is the config rotation codepoint of an ID that carries no
	// routing information.
	Unroutable = 7
)

// QUIC versions whose long-header types ServerID knows.
const (
	Version1 = 0x00000001 // RFC 9000
	Version2 = 0x6b3343cf // RFC 9369
)

// ErrInvalidConfig is returned (wrapped) by Config.Validate.
var ErrInvalidConfig = errors.New("invalid QUIC-LB config")

// Config is the connection ID layout shared by the router and the servers.
type Config struct {
	// ConfigID is the config rotation codepoint, 0..6, in the top 3 bits
	// of the first octet. IDs with another codepoint are not routed by
	// server ID.
	ConfigID uint8
	// ServerIDLen is the length of the server ID in octets, 1..15.
	ServerIDLen int
	// CIDLen is the length of every connection ID the servers issue,
	// 1 + ServerIDLen + at least MinNonceLen, at most MaxCIDLen.
	CIDLen int
}

// DefaultConfig returns config rotation 0, 2-octet server IDs (65535
// members) and 8-octet connection IDs (a 5-octet nonce).
func DefaultConfig() Config { return Config{ConfigID: 0, ServerIDLen: 2, CIDLen: 8} }

// Validate checks c against the draft's limits.
func (c Config) Validate() error {
	switch {
	case c.ConfigID >= Unroutable:
		return fmt.Errorf("%w: config rotation %d, want 0..6", ErrInvalidConfig, c.ConfigID)
	case c.ServerIDLen < 1 || c.ServerIDLen > MaxServerIDLen:
		return fmt.Errorf("%w: server ID length %d, want 1..%d", ErrInvalidConfig, c.ServerIDLen, MaxServerIDLen)
	case c.CIDLen < 1+c.ServerIDLen+MinNonceLen || c.CIDLen > MaxCIDLen:
		return fmt.Errorf("%w: connection ID length %d, want %d..%d for a %d-octet server ID",
			ErrInvalidConfig, c.CIDLen, 1+c.ServerIDLen+MinNonceLen, MaxCIDLen, c.ServerIDLen)
	}
	return nil
}

// MaxServerID returns the largest server ID the layout holds as a uint32
// (IDs are numbers; longer fields hold them in their low octets).
func (c Config) MaxServerID() uint32 {
	if c.ServerIDLen >= 4 {
		return 1<<32 - 1
	}
	return 1<<(8*c.ServerIDLen) - 1
}

// FirstOctet returns the first octet of c's connection IDs: the config
// rotation codepoint and the length self-description.
func (c Config) FirstOctet() byte { return c.ConfigID<<5 | byte(c.CIDLen-1)&0x1f }

// Encode writes a connection ID for server sid into cid, which must be
// CIDLen octets and hold the random nonce already in its last
// CIDLen-1-ServerIDLen octets: it sets the first octet and the server ID.
// It panics if len(cid) != c.CIDLen or sid > c.MaxServerID().
func (c Config) Encode(cid []byte, sid uint32) {
	if len(cid) != c.CIDLen {
		panic(fmt.Sprintf("quiclb: connection ID of %d octets, want %d", len(cid), c.CIDLen))
	}
	if sid > c.MaxServerID() {
		panic(fmt.Sprintf("quiclb: server ID %d above %d", sid, c.MaxServerID()))
	}
	cid[0] = c.FirstOctet()
	v := sid
	for i := c.ServerIDLen; i >= 1; i-- {
		cid[i] = byte(v)
		v >>= 8
	}
}

// Decode returns the server ID of a connection ID in c's layout: ok is
// false when cid has another length, another config rotation codepoint, or
// a server ID above MaxServerID.
func (c *Config) Decode(cid []byte) (sid uint32, ok bool) {
	if len(cid) != c.CIDLen || cid[0]>>5 != c.ConfigID {
		return 0, false
	}
	for _, b := range cid[1 : 1+c.ServerIDLen] {
		if sid>>24 != 0 {
			return 0, false
		}
		sid = sid<<8 | uint32(b)
	}
	return sid, true
}

// DestCID returns the destination connection ID of a QUIC packet (a UDP
// payload) when the server chose it: a short-header packet (its first
// cidLen octets after the first octet) or a long-header Handshake packet
// of QUIC version 1 or 2. For Initial and 0-RTT packets (the client may
// have chosen the ID), Retry and Version Negotiation (sent by servers),
// unknown versions and anything truncated it returns nil.
func DestCID(p []byte, cidLen int) []byte {
	if len(p) == 0 {
		return nil
	}
	b0 := p[0]
	if b0&0x80 == 0 { // short header (RFC 8999 section 5.2)
		if len(p) < 1+cidLen {
			return nil
		}
		return p[1 : 1+cidLen]
	}
	// Long header (RFC 8999 section 5.1): version, DCID length, DCID.
	if len(p) < 6 {
		return nil
	}
	version := uint32(p[1])<<24 | uint32(p[2])<<16 | uint32(p[3])<<8 | uint32(p[4])
	typ := (b0 >> 4) & 3
	switch version {
	case Version1:
		if typ != 2 { // Handshake in v1 (RFC 9000 section 17.2)
			return nil
		}
	case Version2:
		if typ != 3 { // Handshake in v2 (RFC 9369 section 3.2)
			return nil
		}
	default:
		return nil
	}
	n := int(p[5])
	if n > MaxCIDLen || len(p) < 6+n {
		return nil
	}
	return p[6 : 6+n]
}

// ServerID returns the server ID that a QUIC packet's destination
// connection ID names, when the server chose that ID in c's layout (see
// DestCID and Decode).
func (c *Config) ServerID(p []byte) (sid uint32, ok bool) {
	cid := DestCID(p, c.CIDLen)
	if cid == nil {
		return 0, false
	}
	return c.Decode(cid)
}
