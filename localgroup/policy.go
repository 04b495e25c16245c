package localgroup

import (
	"errors"
	"fmt"
)

// Policy selects how Pick maps a packet hash to a member.
type Policy uint8

const (
	// Threshold is RFC 2992 hash-threshold, the seed's (and the default) policy.
	Threshold Policy = iota
	// Modulo is RFC 2992 modulo-N.
	Modulo
	// Maglev is Maglev consistent hashing (Eisenbud et al. 2016).
	Maglev
	// QUIC picks the member named by the server ID of a QUIC packet's
	// destination connection ID (QUICConfig), and falls back to the hash
	// policy QUICConfig.Fallback for anything else.
	QUIC
)

// ErrUnknownPolicy is returned (wrapped) by ParsePolicy for a name it does not know.
var ErrUnknownPolicy = errors.New("unknown policy")

// ParsePolicy parses "threshold", "modulo", "maglev" or "quic".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "threshold":
		return Threshold, nil
	case "modulo":
		return Modulo, nil
	case "maglev":
		return Maglev, nil
	case "quic":
		return QUIC, nil
	}
	return Threshold, fmt.Errorf("policy %q: %w (want threshold, modulo, maglev or quic)", s, ErrUnknownPolicy)
}

// String returns the name ParsePolicy accepts.
func (p Policy) String() string {
	switch p {
	case Threshold:
		return "threshold"
	case Modulo:
		return "modulo"
	case Maglev:
		return "maglev"
	case QUIC:
		return "quic"
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// Valid reports whether p is one of the known policies.
func (p Policy) Valid() bool { return p <= QUIC }

// hashPolicy reports whether p picks by the hash alone (a valid fallback of
// QUIC).
func (p Policy) hashPolicy() bool { return p <= Maglev }
