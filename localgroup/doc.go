// Package localgroup holds SO_REUSEPORT local groups and picks a member of a
// group for a packet: the load-distribution step of xdpmux's lookup (SPEC
// section 3, steps 2 and 3).
//
// A local group is the set of endpoints that bound the same (protocol,
// family, local address, local port) with reuseport and the same owner, kept
// in bind order, as DragonFly BSD's inp_localgroup (commit 740d1d9f) and
// FreeBSD's in_pcblbgroup. When a member leaves, the later members shift
// down one slot, as FreeBSD does.
//
// The worker of a NIC queue calls Group.Pick once per packet with the
// packet's Toeplitz hash. The low s bits of that hash chose the queue
// (s = QueueShift(nqueues), DragonFly's ncpus2_shift); they are the same for
// every packet of the queue and would make the pick unfair, so Pick first
// drops them: u = hash >> s. Then, for n members:
//
//   - Threshold (default, RFC 2992 hash-threshold, the seed's choice):
//     member index = (uint64(u) * n) >> (32 - s).
//   - Modulo (RFC 2992 modulo-N, for comparison): member index = u mod n.
//   - Maglev (Eisenbud et al., NSDI 2016): a lookup table of MaglevSize
//     (a prime, 65537) slots filled by the Maglev populate algorithm from
//     per-member permutations derived from the member ID; member index =
//     table[u mod MaglevSize]. Removing one of n members moves about 1/n of
//     the flows, where threshold and modulo move about half of them.
//   - QUIC: PickPacket reads the destination connection ID of the UDP
//     payload (package quiclb: short headers, and v1/v2 Handshake packets;
//     QUIC-LB plaintext layout) and picks the member whose server ID it
//     carries, so a connection stays on its member when the client's
//     address or port changes. Client-chosen IDs (Initial, 0-RTT), other
//     packets and IDs that name no member pick by hash with
//     QUICConfig.Fallback (Maglev by default); so does Pick.
//
// Every member has a server ID, assigned by Add (the smallest free number
// from 1) and kept until it leaves; Group.ServerID returns it, and the
// member writes it into the connection IDs it issues.
//
// Pick takes no lock, allocates nothing and makes no interface call. A Group
// is not safe for concurrent use: each worker owns its own copy (Clone), and
// the control plane applies the same changes to every copy. The Maglev table
// and the server ID index are built by Add, Remove, SetPolicy and SetQUIC
// (control plane), never by Pick or PickPacket.
package localgroup
