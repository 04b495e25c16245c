// Package rss is receive-side scaling as a NIC does it, in software: the
// Toeplitz hash of a frame's addresses and ports under a 40-byte key
// (Toeplitz, verified against Microsoft's published vectors and a bit-wise
// ReferenceHash), and a simulated indirection table that maps a hash to a
// queue (RSS).
//
// The dataplane uses the hash to pick a reuseport group member, the same
// for a flow on every queue (docs/HASH.md); replay, the tests and the
// generator use RSS to stand in for the NIC when frames do not arrive on a
// real queue. It is a leaf: it imports nothing of the project, and rxq,
// which holds only AF_XDP, does not import it.
//
// Toeplitz and RSS are immutable after construction and safe for
// concurrent use; hashing allocates nothing.
package rss
