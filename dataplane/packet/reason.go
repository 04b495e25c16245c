package packet

import "strconv"

var reasonNames = [NumReasons]string{
	OK:               "ok",
	Truncated:        "truncated",
	UnknownEtherType: "unknown_ethertype",
	TooManyVLANTags:  "too_many_vlan_tags",
	BadVersion:       "bad_version",
	BadIHL:           "bad_ihl",
	BadLength:        "bad_length",
	BadTCPOffset:     "bad_tcp_offset",
	ExtChainTooLong:  "ext_chain_too_long",
}

// String returns the reason's stable snake_case name, used as a counter
// label ("ok", "truncated", "bad_ihl", ...).
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Reasons lists every malformed-frame reason (all but OK), in numeric order.
// The caller owns the returned slice.
func Reasons() []Reason {
	rs := make([]Reason, 0, NumReasons-1)
	for r := OK + 1; r < NumReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}
