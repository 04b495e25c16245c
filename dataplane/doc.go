// Package dataplane runs xdpmux's data path between the receive queues
// (rxq.Source, one per NIC queue) and the applications' endpoints (SPEC
// sections 1 and 4).
//
// # Data path
//
// One worker goroutine per queue loops over batches of up to rxq.BatchSize
// frames: Receive descriptors from its Source, Classify each frame (parse,
// Toeplitz hash, lookup in the worker's own copy of the pcb table; the same
// function `xdpmux replay` uses), and put the frame's descriptor on the
// delivery ring of the chosen endpoint for this queue. Unmatched, malformed
// and ring-full frames go straight back to the Source (Recycle, batched) and
// are counted. Between two batches the worker publishes its ring indices
// and counters (one atomic store each), wakes the endpoints it delivered to,
// recycles the frames applications released, and applies pending control
// messages. When there is nothing to do it sleeps in Source.Wait. Per frame
// it takes no lock, allocates nothing and makes no interface call; Source
// methods are called per batch.
//
// An endpoint bound with EndpointOptions.Handler runs to completion instead
// (handler.go): the worker builds its frames straight into a batch of
// Frames and calls the handler on its own goroutine after each received
// batch; replies go to the worker's TX batch, and the worker releases what
// the handler left when it returns. No delivery ring, no wake-up.
//
// # Control plane
//
// Bind, Endpoint.Close, SetPolicy and SetReuseportExt are serialized by one
// mutex. Each validates and applies the change on the control plane's
// authority table, then posts it (a pcb.Change) to every worker and waits
// until all have applied it between two batches: when the call returns,
// every worker's table agrees. Before that, Bind checks what a kernel
// socket's bind by the same user would (local address, the uid's right to
// the port, kernel sockets on it; docs/SEMANTICS.md "Who may bind what").
// The Claimer (the XDP program's claim map) claims each (protocol, local
// address, port) an endpoint needs before any worker can see its first
// binding and unclaims it after its last binding is gone from every worker;
// a wildcard needs every local address of its family, so SetLocalAddrs
// re-diffs the claims when addresses change. Endpoint IDs
// are small dense integers, reused only after every worker has applied the
// unbind, so a worker finds an endpoint's ring by indexing a slice.
//
// # Frame ownership
//
// A frame belongs to its Source (fill ring, rx ring, free list), then to the
// worker (between Receive and delivery or Recycle), then to an endpoint's
// ring (queued), then to the application (between Receive and Release), then
// to the ring again (released, until the worker recycles it); a handler
// endpoint's frames stay with the worker, lent to the handler during its
// call. The ring of a
// (queue, endpoint) has room for every frame the endpoint keeps of that
// queue, queued or held, and the worker lets an endpoint, and its owner,
// keep only a budget of the queue's frames (docs/DATAPLANE.md), so an
// application that holds frames too long only loses its own frames
// (ring-full and over-budget drops, counted on it) and never starves the
// queue.
// CheckFrames verifies that these places add up to the UMEM's frame count.
//
// Closing an endpoint stops its readers, unbinds it from every worker, and
// has each worker drop (ClosedDropped) or, with EndpointOptions.Drain,
// re-steer (Resteered) the frames still queued on it. Frames the application
// holds stay valid until it releases them, which it may do after Close.
// Dataplane.Close does the same for every endpoint, stops the workers and
// gives every frame it can back to the sources; it does not close them.
//
// # Concurrency
//
// Dataplane and Endpoint methods are safe for concurrent use. Several
// goroutines may Receive and Release on one endpoint: the consumer side of
// its rings is guarded by the endpoint's mutex, taken once per call on the
// application's side, never by a worker. A Frame is not safe for
// concurrent use and must be released exactly once.
package dataplane
