package xdpprog

import (
	"net"
	"net/netip"
)

// State is what a process adopting the program in a takeover needs besides
// its file descriptors (Program.Handover).
type State struct {
	Ifindex int              `json:"ifindex"`
	Mode    Mode             `json:"mode"`
	MAC     net.HardwareAddr `json:"mac"`
	Flags   uint32           `json:"flags"`
	// NICHash: the attached program is xdpmux_nichash (Program.NICHash).
	NICHash bool `json:"nic_hash,omitempty"`
}

// Claim is one entry of the program's claimed map.
type Claim struct {
	Proto uint8
	Addr  netip.Addr
	Port  uint16
}

// HandoverFDs is the number of descriptors Program.Handover returns, in
// this order: the bpf_link, the program, and the claimed, config,
// counters and xsks maps.
const HandoverFDs = 6
