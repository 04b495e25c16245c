// Package packet is the first step of the per-packet data path: a worker
// hands every received frame to Parse, which extracts the lookup key (a
// pcb.Flow) and the offsets the Toeplitz hash reads straight from the frame,
// or says, as a Reason, why the frame is malformed. Malformed frames are
// counted by Reason (Reason.String is the counter label) and returned to the
// fill ring; they never reach the lookup.
//
// # What Parse accepts
//
// Ethernet II, with at most two VLAN tags (TPID 0x8100 802.1Q, 0x88a8
// 802.1ad and the pre-standard 0x9100 QinQ TPID), carrying IPv4 (0x0800) or
// IPv6 (0x86dd). Any other ethertype, ARP included, is UnknownEtherType.
//
// IPv4: options are skipped. An IHL below 5, or one whose header runs past
// the end of the frame, is BadIHL (not Truncated: the header claims more
// than was received, as SPEC calls it "bad IHL"). A total length below the
// header length or beyond the frame is BadLength; bytes after the total
// length are Ethernet padding and are ignored. The header checksum is not
// verified: the NIC (and the kernel for XDP_PASS traffic) owns that check,
// SPEC does not ask for it, and the hash and lookup do not depend on it.
//
// IPv6: a payload length of zero (a jumbogram, RFC 2675, which cannot arrive
// in an AF_XDP frame) or beyond the frame is BadLength. Hop-by-hop (0),
// routing (43), destination options (60) and authentication (51) headers
// are skipped in any order, up to MaxExtHeaders extension headers in all; an
// extension header running past the payload length is Truncated. The
// addresses are always the fixed header's: a routing header's final
// destination or a home-address option is not substituted, because the
// hash must match what the NIC's RSS computed from the same bytes.
//
// Fragments (IPv4 MF flag or non-zero offset; any IPv6 fragment header,
// atomic fragments included) parse OK with Fragment set and HasPorts clear:
// the dataplane does not claim them and hashes them on addresses only.
//
// UDP (17) and TCP (6) are checked (UDP length, TCP data offset) and give
// ports; other protocols (ICMP, ESP, no next header, ...) parse OK without
// ports, with L4Off at the first byte after the IP (and extension) headers.
//
// # Offsets
//
// On OK: Flow.Family, Flow.Src, Flow.Dst, Flow.Proto (the final IP protocol
// number, whatever it is) and IPProto are always set, and
// L3Off < L4Off <= PayloadOff <= PayloadOff+PayloadLen <= len(frame).
// The IPv4 addresses are at frame[L3Off+12:L3Off+20], the IPv6 ones at
// frame[L3Off+8:L3Off+40], and with HasPorts the ports at
// frame[L4Off:L4Off+4]. For UDP the payload is what the UDP length says;
// for TCP it is the rest of the IP packet after the data offset; without
// ports (fragments, other protocols) PayloadOff = L4Off and the payload is
// the rest of the IP packet. On any other Reason the Tuple is zero.
//
// Parse allocates nothing, takes no lock and never panics, whatever the
// bytes. It keeps no reference to the frame.
package packet
