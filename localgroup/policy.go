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
)

// ErrUnknownPolicy is returned (wrapped) by ParsePolicy for a name it does not know.
var ErrUnknownPolicy = errors.New("unknown policy")

// ParsePolicy parses "threshold", "modulo" or "maglev".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "threshold":
		return Threshold, nil
	case "modulo":
		return Modulo, nil
	case "maglev":
		return Maglev, nil
	}
	return Threshold, fmt.Errorf("policy %q: %w (want threshold, modulo or maglev)", s, ErrUnknownPolicy)
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
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}
