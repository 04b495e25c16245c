// Package quicep runs quic-go (github.com/quic-go/quic-go) on xdpmux
// endpoints: the members of a UDP local group whose dataplane picks with the
// quic policy (localgroup.QUIC).
//
// Under that policy the dataplane sends a QUIC packet to the member whose
// server ID its destination connection ID carries (package quiclb, the
// QUIC-LB plaintext layout), so a connection stays on its member when the
// client's address or port changes. That works only if every connection ID
// the member issues carries its server ID: CIDGenerator writes them, and
// NewTransport builds a quic.Transport over the endpoint's PacketConn with
// one.
//
// A member's server ID comes from the dataplane (Endpoint.ServerID): it is
// assigned at bind, stable while the endpoint is open, and may be given to
// a later member once the endpoint is closed.
//
// quic-go reads and writes in batches (recvmmsg, GSO) and reads ECN only
// through OOBCapablePacketConn, which needs a kernel socket's file
// descriptor (SyscallConn); an AF_XDP endpoint has none, so quic-go uses
// plain ReadFrom and WriteTo here. Conn adds SetReadBuffer and
// SetWriteBuffer, which the endpoint's rings make moot, so that quic-go
// does not warn about buffer sizes.
package quicep
