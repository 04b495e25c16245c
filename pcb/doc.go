// Package pcb holds xdpmux's protocol control block tables: the endpoints
// bound by applications, the bind rules that admit them (SPEC section 4),
// and the per-packet lookup that resolves a packet to the endpoint that
// receives it (SPEC section 3).
//
// In the data path, each NIC queue's worker owns its own Table copy and calls
// Table.Lookup once per packet with the parsed Flow and the packet's
// Toeplitz hash. Lookup takes no lock, allocates nothing and makes no
// interface call. The order is DragonFly BSD's (commit 740d1d9f), first
// match wins:
//
//  1. a connected endpoint with the packet's exact 4-tuple;
//  2. the local group (package localgroup) bound to (daddr, dport);
//  3. the local group bound to (wildcard, dport);
//  4. the wildcard table, as BSD's in_pcblookup_hash.
//
// Steps 2 and 3 run only while reuseport_ext is on for the protocol; when it
// is off, step 4 considers every endpoint, which is legacy BSD behaviour:
// input goes to the first wildcard-bound or the last address-bound endpoint.
// docs/SEMANTICS.md lists the rules in full.
//
// The control plane keeps one more copy, the authority. A change (Change:
// bind, unbind, policy, reuseport_ext) is validated there and then applied
// with Table.Apply to every worker's copy between two batches; the same
// sequence of changes gives every copy the same state, because Bind, Unbind
// and the groups are deterministic and endpoint IDs are chosen by the
// caller. A Table is not safe for concurrent use.
//
// A worker's copy also knows its queue (Table.SetHome): in its local groups
// a packet picks among the members that declared that queue
// (Spec.HasQueue, queue-local members) while there are any. The subset is
// precomputed in the copy, so the pick does no more work per packet.
//
// Internally endpoints are kept per (protocol, local port) in a bucket
// reached through two array indexings (no map): the bucket holds an
// open-addressing hash table of connected endpoints (probed only when not
// empty), the local groups of the
// port (a short slice compared by 16-byte address), and the listening
// endpoints in bind order.
package pcb
