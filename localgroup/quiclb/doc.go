// Package quiclb reads the server ID out of a QUIC packet's destination
// connection ID, for the quic pick policy of package localgroup, and writes
// connection IDs in the same layout, for the servers (members) that issue
// them.
//
// The layout is the plaintext one of the IETF QUIC-LB draft
// (draft-ietf-quic-load-balancers, "Plaintext CID Algorithm"):
//
//	octet 0:            CR (3 bits, the config rotation codepoint)
//	                    | CID length - 1 (5 bits, length self-description)
//	octets 1..S:        server ID, big-endian, S = ServerIDLen
//	octets S+1..L-1:    nonce (random), L = CIDLen
//
// Config rotation 0b111 marks an unroutable ID. Encode writes the length
// self-description; Decode does not check it (the draft makes it optional,
// so servers may fill those bits at random). Short-header packets carry
// no connection ID length, so every server ID a member issues must have the
// configured CIDLen; the router reads the first CIDLen octets after the
// first octet of the packet.
//
// ServerID parses only what RFC 8999 (version-independent properties of
// QUIC) and RFC 9000/9369 (versions 1 and 2) fix: the header form bit, the
// long-header version, type and destination connection ID. It allocates
// nothing and never panics, for any input.
package quiclb
