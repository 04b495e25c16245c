// Package txgen is xdpmux's traffic generator: a pktgen-style sender of
// UDP frames over IPv4 or IPv6 (by Config.Dst's family) that feeds the receive side of the data path (the XDP
// program, the AF_XDP sockets and the workers) in labs and benchmarks.
//
// Frames are built once, up front: one common Ethernet + IPv4 + UDP frame
// of Config.Size bytes, and per flow a small stamp (source address, source
// port and the IPv4 header checksum that goes with them). The send loop
// writes a flow's stamp and the flow's next sequence number into a frame
// that already holds the common bytes: about 20 bytes per packet, no
// allocation, no lock, in batches of rxq.BatchSize.
//
// Over IPv4 the UDP checksum is 0 ("no checksum", legal for UDP over
// IPv4), so stamping a sequence number needs no checksum update; the IPv4
// header checksum is correct. Over IPv6 the UDP checksum is mandatory:
// each flow's stamp keeps the checksum sum of its frame with sequence
// number 0, and stamping adds the sequence number's four 16-bit words to
// it (32 bytes written, still no allocation). After the UDP header, every frame carries a
// PayloadHeader (see ParsePayload): a magic word, the flow id and the
// flow's sequence number, starting at 0 for each flow, so a receiver can
// count losses and reordering per flow.
//
// Two backends send the frames:
//
//   - AF_XDP (BackendAFXDP): one rxq.Socket with a TX ring per TX queue, one
//     goroutine each. Every UMEM frame is written with the common frame
//     once; sending a frame stamps it and puts its descriptor on the TX
//     ring; frames come back through the completion ring and are reused.
//     A frame counts as sent when it completes.
//   - AF_PACKET (BackendAFPacket): SOCK_RAW sockets bound to the interface,
//     one goroutine each, sending batches with sendmmsg(2) from
//     preallocated buffers. A frame counts as sent when sendmmsg takes it.
//
// BackendAuto tries AF_XDP and falls back to AF_PACKET when the AF_XDP TX
// setup fails; the fallback is logged and shows in Stats.Backend.
//
// Rate limiting is a token bucket per goroutine, refilled once per batch
// (one time.Now per batch, not per packet).
//
// As a guard against flooding real networks, the destination must lie in
// the benchmarking range 198.18.0.0/15 (RFC 2544) or, for IPv6,
// 2001:2::/48 (RFC 5180) unless Config.AllowAnyDst is set.
package txgen
