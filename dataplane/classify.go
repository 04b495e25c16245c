package dataplane

import (
	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rss"
)

// Hash computes the packet's Toeplitz hash straight from the frame bytes at
// the offsets Parse found (SPEC section 2): addresses and, for non-fragmented
// UDP and TCP, ports. t must come from a successful Parse of frame.
func Hash(tz *rss.Toeplitz, frame []byte, t *packet.Tuple) uint32 {
	l3 := int(t.L3Off)
	var ports []byte
	if t.HasPorts {
		l4 := int(t.L4Off)
		ports = frame[l4 : l4+4]
	}
	if t.Flow.Family == pcb.IPv4 {
		return tz.HashV4(frame[l3+12:l3+20], ports)
	}
	return tz.HashV6(frame[l3+8:l3+40], ports)
}

// ParseAndHash parses frame into t and hashes it. A malformed frame returns
// its reason and hash 0.
func ParseAndHash(tz *rss.Toeplitz, frame []byte, t *packet.Tuple) (uint32, packet.Reason) {
	if reason := packet.Parse(frame, t); reason != packet.OK {
		return 0, reason
	}
	return Hash(tz, frame, t), packet.OK
}

// Lookup resolves a parsed packet's endpoint in one table copy (SPEC
// section 3). Only non-fragmented UDP and TCP can match; 0 is no match.
// The pick sees no payload: under the QUIC policy it picks by hash (use
// LookupFrame to route by connection ID).
func Lookup(table *pcb.Table, t *packet.Tuple, hash uint32) pcb.EndpointID {
	if !t.HasPorts {
		return 0
	}
	return table.Lookup(&t.Flow, hash)
}

// LookupFrame is Lookup with the frame t was parsed from: a UDP packet's
// payload goes to the pick, which the QUIC policy reads (the destination
// connection ID).
func LookupFrame(table *pcb.Table, frame []byte, t *packet.Tuple, hash uint32) pcb.EndpointID {
	if !t.HasPorts {
		return 0
	}
	var payload []byte
	if t.Flow.Proto == pcb.UDP {
		off := int(t.PayloadOff)
		payload = frame[off : off+int(t.PayloadLen)]
	}
	return table.LookupPacket(&t.Flow, hash, payload)
}

// Classify is the per-packet decision shared by the queue workers and by
// `xdpmux replay`: parse, hash, and look up in the caller's table copy
// (LookupFrame: the QUIC policy reads the UDP payload).
// A malformed frame returns its reason with hash 0 and no endpoint; a frame
// that parses but matches nothing returns endpoint 0.
func Classify(tz *rss.Toeplitz, table *pcb.Table, frame []byte, t *packet.Tuple) (hash uint32, id pcb.EndpointID, reason packet.Reason) {
	hash, id, reason, _ = ClassifyNIC(tz, table, frame, t, rxq.NICHash{})
	return hash, id, reason
}

// ClassifyNIC is Classify with the frame's NIC hash metadata (Config.Hash
// "nic"): when nic is Valid its hash is the packet's hash (fromNIC true),
// otherwise the software Toeplitz hash is computed. A malformed frame is
// never hashed (hash 0, fromNIC false).
func ClassifyNIC(tz *rss.Toeplitz, table *pcb.Table, frame []byte, t *packet.Tuple, nic rxq.NICHash) (hash uint32, id pcb.EndpointID, reason packet.Reason, fromNIC bool) {
	if reason = packet.Parse(frame, t); reason != packet.OK {
		return 0, 0, reason, false
	}
	if nic.Valid() {
		hash, fromNIC = nic.Hash, true
	} else {
		hash = Hash(tz, frame, t)
	}
	return hash, LookupFrame(table, frame, t, hash), packet.OK, fromNIC
}
