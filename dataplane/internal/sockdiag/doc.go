// Package sockdiag lists the kernel's TCP and UDP sockets of one network
// namespace through sock_diag netlink (NETLINK_SOCK_DIAG, inet_diag_req_v2
// dumps of every state, AF_INET and AF_INET6). The dataplane asks it, before
// a bind, whether a kernel socket holds the port. It holds the netlink
// sockets so the dataplane package stays free of system calls.
package sockdiag
