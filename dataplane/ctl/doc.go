// Package ctl is xdpmux's control socket: the protocol, the server that
// `xdpmux run` puts on a dataplane, and the Go client applications use to
// bind endpoints on it from other processes.
//
// # Role in the data path
//
// Endpoints bound in the xdpmux process itself (dataplane.Bind) read frames
// by reference from the UMEM. A process outside cannot map that memory, so
// the control socket serves it copies: for each client endpoint the server
// runs one goroutine that receives a batch from the endpoint's delivery
// rings, copies every frame's addresses, queue, hash and payload into
// messages, releases the frames at once (they go back to their queue's fill
// ring before the copies are even sent), and writes the messages on the
// client's connection. A slow client only fills its own delivery rings,
// whose overflow the dataplane drops and counts (RingFull); it never holds
// UMEM frames, and never slows the workers or other clients.
//
// # Takeover
//
// A new `xdpmux run -takeover` inherits the listening socket itself, so
// the path never stops answering. The old server lists its clients'
// endpoints (HandoverEndpoints) and disconnects them (CloseHandover); the
// new one binds a parked endpoint for each (Park) that queues the
// endpoint's frames, within its budget, until the client reconnects and
// binds the same spec as the same uid. The Go client does that by itself
// with Options.Reconnect. handover.go says what a parked endpoint keeps
// of the isolation rules.
//
// # Owners
//
// The server learns the client's uid from the kernel (SO_PEERCRED, recorded
// at connect time) and binds the client's endpoint with owner
// pcb.UIDOwner(uid). The pcb rule "only endpoints of the same owner share an
// address with reuseport" therefore holds across processes: two processes of
// one user can form a reuseport group (and join the group of command-line
// BINDs of `xdpmux run` when run by that user), while a process of another
// user gets EADDRINUSE and can never take a share of someone else's traffic.
//
// # Credentials
//
// With the uid, the server learns whether the client may bind ports below
// 1024 (CAP_NET_BIND_SERVICE), and passes both to the dataplane, which
// decides what a user may bind (dataplane.Cred; a refused bind is answered
// CodePermission). uid 0 always may. For another uid the capability is
// read without a pid race: SO_PEERPIDFD (Linux 6.5+) gives a pidfd of the
// process that connected; the server reads CapEff from /proc/PID/status
// and then checks that the pidfd still names a live process, so a pid
// reused meanwhile counts as no capability. The capability counts only in
// the server's own user namespace: root of a user namespace any user can
// create holds every capability there and none here. On kernels without
// SO_PEERPIDFD only uid 0 is trusted: every other uid is treated as
// lacking the capability, whatever its process holds.
//
// # Limits
//
// Every local user may connect, so the server bounds what each can take
// (Limits, DefaultLimits; uid 0 is exempt from all but the idle timeout):
//
//	ConnsPerUID      64    concurrent connections of one uid
//	Conns            1024  concurrent connections of all non-root uids
//	                       (at most half of RLIMIT_NOFILE), so that root's
//	                       clients, the dataplane and /metrics keep
//	                       descriptors
//	EndpointsPerUID  32    endpoints bound at a time by one uid
//	PortsPerUID      16    distinct (protocol, port) pairs one uid's
//	                       endpoints hold (a reuseport group counts once)
//	IdleTimeout      10 s  an unbound connection sending no request this
//	                       long is closed (each Stats request restarts it)
//	StatsPerSecond   5     Stats requests per uid, a token bucket shared by
//	StatsBurst       20    the uid's connections
//	LogPerSecond     20    records logged a second; the rest are counted
//	                       and reported as "suppressed N records"
//
// A client over a limit gets Error with CodeLimit, whose text names the
// limit (e.g. "control socket limit reached: conns_per_uid (64)"), and is
// disconnected. Only binds, unbinds and refusals are logged at Info and
// Warn; connections coming and going and stats requests at Debug. Only
// clients with an endpoint are listed in StatsSnapshot.Clients: a
// connection that only asks for stats is not a client there.
//
// Frames are copied out of the UMEM and released before they are written
// to a client. A message that does not fit in the client's socket buffer
// is written with a deadline of 250 ms and, if that passes, dropped and
// its frames counted in the client's Dropped (ClientInfo, JSON
// "dropped"). Meanwhile the client's frames wait on its endpoint's
// delivery rings, within its frame budget (docs/DATAPLANE.md): a client
// that reads a little slower than a burst loses nothing, and one that
// does not read at all holds no more than its share of any queue's UMEM
// and is the one whose drops are counted. Close tells every client concurrently, giving
// each at most 100 ms; Serve survives every accept error other than its
// listener being closed, retrying after a backoff.
//
// # Transport
//
// A unix socket of type SOCK_SEQPACKET (Go network "unixpacket"), by default
// at DefaultPath; its directory is created with mode 0755 and the socket
// with mode 0666 so that every user may connect (the owner rule, not file
// permissions, decides what a user may bind). SOCK_SEQPACKET keeps message
// boundaries and is connection-oriented: one read returns one whole message,
// and the server sees the client leave (close or death) as end of file.
//
// One connection binds at most one endpoint. When the connection ends, for
// whatever reason, the server closes the endpoint: frames still queued on it
// are dropped and counted ClosedDropped, as for any dataplane endpoint
// (docs/DATAPLANE.md, Closing).
//
// # Messages (version 1)
//
// Every message starts with a 4-byte header, then a body whose layout
// depends on the type. Integers are big-endian. No message is longer than
// MaxMessage (65536) bytes.
//
//	offset size
//	0      2    magic "XM"
//	2      1    version, 1
//	3      1    type
//
// Client to server:
//
//	Bind (type 1), at most MaxRequest bytes:
//	  4  1   flags: bit 0 reuseport, bit 1 dual-stack (IPv6 only), bit 2
//	         slot follows, bit 3 queue follows; others 0
//	  5  2   slot in the local group (pcb.Spec.Slot), only with bit 2
//	  .  2   queue the member lives next to (pcb.Spec.Queue, a
//	         queue-local member), only with bit 3, after the slot if any
//	  5  ... spec (at 7 with bit 2 or 3, at 9 with both): PROTO/ADDR:PORT in text, e.g. "udp/0.0.0.0:53",
//	         "tcp/[::]:443" (ParseSpec), 1 to 128 bytes
//	Stats (type 2): no body.
//
// Server to client:
//
//	Bound (type 129), the answer to Bind:
//	  4  4   endpoint ID in the dataplane
//	  8  2   number of dataplane queues
//	  10 ... endpoint name, text (e.g. "udp/0.0.0.0:53#c7")
//	Frames (type 130), one or more after Bound, until the connection ends:
//	  4  2   count of frame records that follow
//	  6  2   reserved, 0
//	  8  ... count records, each FrameHeaderLen (46) bytes + payload:
//	         0  1   family: 4 or 6
//	         1  1   protocol: 17 (UDP) or 6 (TCP)
//	         2  2   queue the frame arrived on (dataplane queue)
//	         4  4   Toeplitz hash
//	         8  16  source (remote) address, IPv4 as ::ffff:a.b.c.d
//	         24 2   source port
//	         26 16  destination (local) address, IPv4 as ::ffff:a.b.c.d
//	         42 2   destination port
//	         44 2   payload length L
//	         46 L   transport payload
//	Stats reply (type 131), the answer to Stats, in one or more parts:
//	  4  1   flags: bit 0 "more parts follow"
//	  5  ... a part of the JSON document; the parts, concatenated, are one
//	         StatsSnapshot
//	Error (type 132), then the server closes the connection:
//	  4  1   code (Code*: 1 protocol, 2 address in use, 3 group full,
//	         4 invalid spec, 5 internal, 6 permission, 7 shutting down,
//	         8 limit, 9 address not available)
//	  5  ... message, text
//
// The Go client turns an Error into a *RemoteError that matches, with
// errors.Is, the error behind its code: CodeAddrInUse pcb.ErrAddrInUse and
// syscall.EADDRINUSE; CodePermission dataplane.ErrPermission and
// syscall.EACCES; CodeAddrNotAvail syscall.EADDRNOTAVAIL; CodeLimit
// ErrLimit; CodeGroupFull pcb.ErrGroupFull; CodeInvalidSpec
// pcb.ErrInvalidSpec; CodeProtocol ErrProtocol; CodeShutdown
// ErrDisconnected. Codes 8 and 9 are new in version 1: a client that does
// not know them sees an Error with an unknown code, as for any future
// code. A server refusing a connection at once (over a limit) may close it
// before reading the client's request; the client then reads the Error
// the server left, not the write's EPIPE.
//
// A connection starts unbound. Unbound, a client may send Stats requests
// (within the rate limit, each within IdleTimeout of the last) and then at
// most one Bind; once bound it sends nothing more
// and only reads. Anything else (bad magic, unknown version or type, a
// malformed body, a message too long, any message after Bind) is a protocol
// error: the server answers Error with CodeProtocol, closes that connection
// (and its endpoint), and goes on serving everyone else. A failed Bind is
// answered with Error too, with the code of the cause. A zero-length message
// reads as end of file.
//
// A future version changes the version byte; a server answers a version it
// does not speak with Error (CodeProtocol) naming the versions it speaks.
package ctl
