// Package netstackep turns one xdpmux endpoint into a gVisor link endpoint
// (stack.LinkEndpoint), so that a user-space TCP/IP stack (gVisor's netstack)
// runs on the frames xdpmux delivers: a reuseport group of N endpoints
// becomes N independent stacks, each owning the flows the packet hash gives
// its member (docs/NETSTACK.md).
//
// # Data path
//
//	worker q ──► endpoint ring ──► Link's receive goroutine ──► gVisor stack
//	                               (Frame.IP: the IP packet, copied;
//	                                learn the flow's queue; release)
//	gVisor stack ──► Link.WritePackets ──► Sender.SendIP(queue, pkt) ──► TX
//	                                       (the dataplane adds the link header
//	                                        its peer cache learned)
//
// The link layer is the dataplane's, not the Link's: netstackep has no
// Ethernet code and no neighbour table. The worker's parser (packet.Parse,
// the same rules as the XDP program: Ethernet with up to two VLAN tags of
// TPID 0x8100, 0x88a8 or 0x9100) has found the IP header of every frame
// delivered, and the endpoint remembers, in its peer cache
// (dataplane.EndpointOptions.PeerCacheSize, sized by Options.MaxPeers), the
// link header of each peer's last frame: the peer's MAC as destination,
// ours as source, the VLAN tags kept.
//
// Receive: one goroutine per Link takes batches of frames from the
// dataplane endpoint, copies each frame's IP packet (Frame.IP: no link
// header, no Ethernet padding) into a gVisor buffer, injects it as an IPv4
// or IPv6 network packet (DeliverNetworkPacket: the stack sees no link
// header) and releases the whole batch. Each frame teaches the Link the
// queue its flow (remote address and port) arrives on.
//
// Transmit: WritePackets copies each packet into a buffer owned by the
// Link and hands it to the Sender (the endpoint's SendIP) on the queue of
// the packet's flow, or, for a flow not seen, dataplane.PeerQueue (the
// queue the peer last used). The Sender copies the packet, behind the
// peer's link header, before it returns. A packet to a peer never heard
// from is looked up in the kernel's neighbour table of the interface
// (dataplane.Config.Neighbors, docs/REPLIES.md: ARP and neighbour
// discovery stay with the kernel, whose frames the XDP program does not
// claim); one the kernel does not know yet (dataplane.ErrUnknownPeer) is
// dropped and counted, and the kernel asked to resolve it for the
// retransmission.
// PacketSender is the AF_PACKET fallback for sockets without a TX ring:
// its For(endpoint) frames each packet with the endpoint's AppendFrame.
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
