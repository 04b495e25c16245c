// Package netstackep turns one xdpmux endpoint into a gVisor link endpoint
// (stack.LinkEndpoint), so that a user-space TCP/IP stack (gVisor's netstack)
// runs on the frames xdpmux delivers: a reuseport group of N endpoints
// becomes N independent stacks, each owning the flows the packet hash gives
// its member (docs/NETSTACK.md).
//
// # Data path
//
//	worker q ──► endpoint ring ──► Link's receive goroutine ──► gVisor stack
//	                               (strip Ethernet, copy the IP packet,
//	                                learn peer MAC and queue, release)
//	gVisor stack ──► Link.WritePackets ──► Sender.SendFrame(queue, frame) ──► TX
//	                 (Ethernet header from the learned peer table)
//
// Receive: one goroutine per Link takes batches of frames from the
// dataplane endpoint, checks the Ethernet (and 802.1Q/802.1ad) header,
// copies the IP packet (trimmed to its IP length: no Ethernet padding) into a
// gVisor buffer, injects it as an IPv4 or IPv6 network packet
// (DeliverNetworkPacket: the stack sees no link header) and releases the
// whole batch. Each frame teaches the Link its peer's link header (the
// sender's MAC as destination, ours as source, VLAN tags kept) and the queue
// the peer's flow arrives on.
//
// Transmit: WritePackets looks up the packet's destination address in the
// learned table, puts the peer's link header before the IP packet in a
// buffer owned by the Link and hands the frame to the Sender on the queue of
// the packet's flow (or, for a flow not seen, the queue the peer last used).
// The Sender copies the frame before it returns. A packet to a peer never
// heard from is dropped and counted: the Link does no ARP or neighbour
// discovery (those frames are not claimed by the XDP program and stay with
// the kernel); a server only answers peers that spoke first.
//
// # Honest capabilities
//
// The Link claims CapabilityNone by default: neither the AF_XDP path nor
// xdpmux verifies or computes checksums, so the stack verifies every
// received checksum and computes every sent one. On veth the peer's kernel
// sends TCP and UDP checksums partial (CHECKSUM_PARTIAL, the pseudo-header
// sum only) and AF_XDP delivers them as they are: there, and only there,
// Options.TrustRXChecksums makes the Link claim RX checksum offload (the
// frames never crossed a wire, so there is nothing to verify and no
// checksum to verify against). No GSO: the stack segments to the MTU
// (default 1500, the veth's).
//
// # Frame ownership
//
// A received frame is held only while its batch is copied into the stack,
// then released in one call: a Link never keeps UMEM frames, so the
// dataplane's frame accounting is unaffected by how long the stack keeps
// data in its socket buffers.
package netstackep
