// Package rxq is the receive end of xdpmux's data path: it pulls raw frames
// off a NIC's receive queues through AF_XDP sockets, one Socket per queue,
// and hands them to the dataplane's per-queue worker as Desc values (UMEM
// address + length) through the Source interface. It holds AF_XDP and
// nothing else: the Toeplitz hash and the simulated RSS table live in
// rxq/rss, the traffic generator and the netns lab under bench/.
//
// # Frames and rings
//
// A UMEM is a memory area split into equal frames (FrameSize bytes),
// mapped from a memory file (memfd) so that a process taking over the
// socket maps the same pages (Socket.Handover, AdoptSocket). The
// kernel and user space pass frames back and forth through four
// single-producer single-consumer rings, each of a power-of-two size:
//
//	          user                          kernel
//	fill ring     ── frame addresses ──►   (takes a frame per packet)
//	rx ring       ◄── descriptors ─────    (filled frame: addr, len)
//	tx ring       ── descriptors ──────►   (sends the frame)
//	completion    ◄── frame addresses ──   (sent; frame is free again)
//
// Receiving: user space puts free frames on the fill ring (FillQueue);
// when a packet arrives for the queue and the XDP program redirects it to
// the socket, the kernel takes a frame from the fill ring, copies (or, in
// zero-copy mode, DMAs) the packet into it and publishes a descriptor on
// the rx ring (RXQueue). The worker takes descriptors with Receive, and
// gives the frames back with Recycle, which puts them on the fill ring
// again.
//
// Transmitting: user space takes a frame from its free list (AllocFrame),
// writes a packet into it and publishes a descriptor on the tx ring
// (TXQueue, Transmit). The kernel sends it and publishes the frame's
// address on the completion ring (CompletionQueue); Complete moves it back
// to the free list.
//
// # Who owns a frame
//
// A frame belongs to exactly one party at a time:
//   - on the free list (FrameAllocator): user space, unused;
//   - in the fill ring: the kernel, from Submit until it appears on the rx
//     ring;
//   - in the rx ring: user space may not touch it until it takes the
//     descriptor (Receive); from then on the worker, then an endpoint,
//     own it until Recycle;
//   - in the tx ring and until it comes back on the completion ring: the
//     kernel.
//
// Hence, at a quiescent point, for each socket:
//
//	Total = Free + Fill + RX + held by the user (worker, endpoints, TX in flight)
//
// which FrameStats reports, and the dataplane checks.
//
// # Ring protocol
//
// Each ring has a producer index written only by its producer and a
// consumer index written only by its consumer; both are free-running
// uint32 counters, an entry's slot is index & (size-1). Each side keeps
// cached copies of both indices and touches the shared ones only when its
// cache runs dry. The memory ordering is that of the kernel's
// net/xdp/xsk_queue.h (mirrored by libxdp's xsk.h):
//
//	producer: load consumer (acquire) → write descriptors → store producer (release)
//	consumer: load producer (acquire) → read descriptors  → store consumer (release)
//
// With XDP_USE_NEED_WAKEUP, the kernel sets a flag in the fill and tx
// rings' flags word when it needs a syscall to make progress (poll or
// recvfrom for the fill ring, sendto for the tx ring); otherwise no syscall
// is made per batch.
//
// The ring types can be built over ordinary memory (MemRing), and two of
// opposite roles over the same memory talk to each other: tests and the
// in-memory source (rxqtest) stand in for the kernel that way.
//
// # Waiting
//
// An idle worker sleeps in Socket.Wait, parked on the Go netpoller, not in a
// blocking poll(2): the socket is non-blocking and registered once with the
// runtime's epoll (an os.File and its RawConn, in rxq/internal), and Wait
// runs RawConn.Read with a check of the rx ring. The parked goroutine holds
// no OS thread and no P, so on a machine with few CPUs the goroutines the
// worker feeds run at once instead of waiting for sysmon to take the P
// back from a thread stuck in poll(2).
//
// The registration is edge-triggered, which AF_XDP supports in copy and
// zero-copy mode: xsk_poll puts the epoll entry on the socket's wait queue,
// and the kernel wakes that queue (sock_def_readable) once per batch it
// publishes on the rx ring, right after storing the producer index
// (xsk_flush, called at the end of the NAPI poll, or per frame from
// xsk_generic_rcv in generic mode). An edge is not a level, though: frames
// left in the ring by a partial Receive raise no new event. So Wait looks
// at the ring before parking, and again at every wake-up, after RawConn
// has armed the poll descriptor (an event between the check and the park
// is kept).
// TestWaitFrameArrives checks it on veth in copy mode, including partial
// receives.
//
// Since no poll(2) runs any more, Wait does what xsk_poll did on the way
// to sleep: recvfrom when the fill ring's need-wakeup flag is set (in
// zero-copy mode that makes the driver refill; in copy mode the flag is
// not seen set), and sendto when frames wait on the TX ring in copy mode.
// Wake sets a flag the check reads and, if a Wait is parked, moves the
// socket's read deadline into the past; Close does the same before it
// waits for calls in progress, unmaps the rings and closes the fd through
// its os.File (which takes it off the netpoller). A timeout is not an
// error. SocketOptions.BusyPoll skips waiting altogether.
//
// # Metadata and RSS
//
// The xdpmux_nichash XDP program writes the NIC's hash as 8 bytes of XDP
// metadata, which AF_XDP copies just before the frame: ReadMeta reads and
// clears it at UMEM[addr-8 : addr] (NICHash). ReadRSS asks ethtool netlink
// for an interface's RSS hash function, key and indirection table
// (RSSInfo; ParseRSSReply decodes the reply).
//
// # Concurrency
//
// One goroutine per queue (the worker) owns a Socket's rings and free list;
// they are not safe for concurrent use. Wake and Close may be called from
// any goroutine. All system calls and unsafe code are in rxq/internal.
package rxq
