package packet

import "github.com/xdpmux/xdpmux/pcb"

// Reason says why a frame could not be parsed. Zero means it parsed.
type Reason uint8

const (
	OK               Reason = iota
	Truncated               // the frame ends inside a header
	UnknownEtherType        // not IPv4 or IPv6 after the VLAN tags
	TooManyVLANTags         // more than two 802.1Q/802.1ad tags
	BadVersion              // IP version field disagrees with the ethertype
	BadIHL                  // IPv4 header length below 5 words or beyond the frame
	BadLength               // IP total/payload length or UDP length inconsistent with the frame
	BadTCPOffset            // TCP data offset below 5 words or beyond the packet
	ExtChainTooLong         // more IPv6 extension headers than MaxExtHeaders
	NumReasons              // number of reasons, for counter arrays
)

// Tuple is what Parse extracts from one frame. It holds no reference to the
// frame: offsets index into it.
type Tuple struct {
	Flow pcb.Flow // addresses and ports; ports are zero unless HasPorts

	// HasPorts is set for a non-fragmented UDP or TCP packet: one the
	// dataplane can claim, and whose hash includes the ports.
	HasPorts bool
	// Fragment is set for an IPv4 fragment (MF or offset) or an IPv6 packet
	// with a fragment header.
	Fragment bool
	// IPProto is the final IP protocol number (after IPv6 extension headers).
	IPProto uint8

	L3Off      uint16 // offset of the IP header
	L4Off      uint16 // offset of the transport header (0 if none)
	PayloadOff uint16 // offset of the transport payload
	PayloadLen uint16 // length of the transport payload (Ethernet padding excluded)
}
