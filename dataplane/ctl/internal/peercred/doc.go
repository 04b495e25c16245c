// Package peercred reads the credentials of the process at the other end of
// a unix socket. It is one of the two places of package ctl that make
// system calls, as STYLE asks (the other is internal/sockio).
//
// # What is learned, and how
//
// The uid, gid and pid come from SO_PEERCRED: the kernel records them at
// connect(2), so the client cannot forge them afterwards.
//
// Whether the peer holds CAP_NET_BIND_SERVICE is learned without a pid
// race: SO_PEERPIDFD (Linux 6.5+) gives a pidfd naming the very process
// that connected; Of then reads CapEff from /proc/PID/status, and only then
// checks that the pidfd still names a live process (pidfd_send_signal with
// signal 0). If the process died in between, its pid may have been reused
// by another process whose status was read: the capability is then
// refused. A capability counts only if the peer is in the same user
// namespace as this process: root of a user namespace that any user can
// create (unshare -U -r) holds every capability there, none here.
//
// uid 0 always counts as privileged. Where SO_PEERPIDFD is not available
// (kernels before 6.5, other platforms) only uid 0 is trusted: a non-root
// peer never holds the capability, whatever its CapEff says, because a pid
// alone cannot be tied to the process that connected.
package peercred
