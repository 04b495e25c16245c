package pcb

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/xdpmux/xdpmux/localgroup"
)

// EndpointID names a bound endpoint; 0 means "no endpoint". IDs are
// assigned by the caller and must be unique among the endpoints bound in a
// table. The dataplane keeps them dense, reusing an ID only after every
// table copy has applied its unbind, so workers index per-endpoint state by
// ID. (Maglev derives a member's permutation from its ID: a reused ID is
// simply a new member.)
type EndpointID uint32

// Owner identifies who bound an endpoint: a uid (see UIDOwner) or a token
// chosen by an embedding program. Only endpoints of the same owner can share
// an address with reuseport.
type Owner string

// UIDOwner returns the owner of a process with the given uid, "uid:<uid>".
func UIDOwner(uid uint32) Owner { return Owner("uid:" + strconv.FormatUint(uint64(uid), 10)) }

var (
	// ErrAddrInUse is returned (wrapped) by Bind when the spec overlaps an
	// existing binding that it may not share. It matches syscall.EADDRINUSE
	// too: errors.Is(err, syscall.EADDRINUSE) holds for every error that
	// wraps it.
	ErrAddrInUse error = &errnoError{"address already in use", syscall.EADDRINUSE}
	// ErrGroupFull is returned (wrapped) by Bind when the local group to join
	// is at its limit. It is localgroup.ErrGroupFull, so errors.Is works with
	// either name.
	ErrGroupFull = localgroup.ErrGroupFull
	// ErrInvalidSpec is returned (wrapped) for a malformed Spec.
	ErrInvalidSpec = errors.New("invalid endpoint spec")
	// ErrNotFound is returned (wrapped) by Unbind for an unknown endpoint.
	ErrNotFound = errors.New("endpoint not found")
	// ErrInvalidID is returned (wrapped) by Bind for ID 0 or an ID in use.
	ErrInvalidID = errors.New("invalid endpoint id")
	// ErrInvalidConfig is returned (wrapped) by NewTable for a bad Config.
	ErrInvalidConfig = errors.New("invalid table config")
	// ErrSlotInUse is returned (wrapped) by Bind when another member of
	// the local group holds the slot (or its server ID). It is
	// localgroup.ErrSlotInUse and, like ErrAddrInUse, matches
	// syscall.EADDRINUSE.
	ErrSlotInUse = localgroup.ErrSlotInUse
	// ErrInvalidChange is returned (wrapped) by Apply for an unknown ChangeOp.
	ErrInvalidChange = errors.New("invalid change")
)

// errnoError is a sentinel that also matches the errno a kernel socket
// would fail with.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }

// Is reports whether target is the errno e stands for.
func (e *errnoError) Is(target error) bool { return target == e.errno }

// Spec describes an endpoint to bind.
type Spec struct {
	Proto Proto
	// Local is the local address and port. An unspecified address (0.0.0.0
	// or ::) is the wildcard; the port must not be 0.
	Local netip.AddrPort
	// Remote, when valid, makes a connected endpoint, found by its exact
	// 4-tuple (lookup step 1). The zero value means not connected.
	Remote    netip.AddrPort
	ReusePort bool
	// HasSlot gives the endpoint an explicit Slot in its local group
	// (localgroup.Group.AddSlot): members are ordered by slot, and one that
	// unbinds and binds again with the same slot, under a new ID, gets
	// exactly the flows it had. It needs ReusePort and a spec that enters a
	// group; Slot is at most localgroup.MaxSlot.
	HasSlot bool
	Slot    uint32
	// HasQueue declares the NIC queue the endpoint lives next to
	// (queue-local members, localgroup.MemberSpec: Linux's
	// SO_INCOMING_CPU, FreeBSD's TCP_REUSPORT_LB_NUMA): a packet that
	// arrives on Queue goes to the members of its group that declared
	// Queue, picked among them by the group's policy, while there are any;
	// otherwise to the whole group. It needs ReusePort and a spec that
	// enters a group; Queue is below the table's Config.Queues.
	HasQueue bool
	Queue    uint32
	// DualStack (IPv6 only) also accepts IPv4 traffic (v4-mapped). The
	// default is v6-only, as on BSD.
	DualStack bool
	// Jail, when not empty, restricts the endpoint to packets whose
	// destination address is in the list.
	Jail  []netip.Addr
	Owner Owner
	// Name is free text for stats; lookup ignores it.
	Name string
}

// String returns e.g. "udp/0.0.0.0:53", "tcp/[::]:443" or, connected,
// "tcp/198.18.0.1:80->198.18.0.2:1234".
func (s Spec) String() string {
	str := s.Proto.String() + "/" + s.Local.String()
	if s.Connected() {
		str += "->" + s.Remote.String()
	}
	return str
}

// Connected reports whether s is a connected endpoint (Remote is valid).
func (s Spec) Connected() bool { return s.Remote.IsValid() }

// Jailed reports whether s is jailed (Jail is not empty).
func (s Spec) Jailed() bool { return len(s.Jail) > 0 }

// Family returns the family the endpoint receives as: IPv4 for an IPv4
// address and for a DualStack IPv6 endpoint bound to a v4-mapped address
// (which BSD turns into an IPv4 endpoint), IPv6 otherwise.
func (s Spec) Family() Family {
	a := s.Local.Addr()
	if a.Is4() || (a.Is4In6() && s.DualStack) {
		return IPv4
	}
	return IPv6
}

// wildcard reports whether the local address is unspecified.
func (s Spec) wildcard() bool { return s.Local.Addr().IsUnspecified() }

// acceptsMapped reports whether s is an IPv6 dual-stack wildcard, which also
// takes IPv4 packets (FreeBSD's local_wild_mapped).
func (s Spec) acceptsMapped() bool {
	return s.Local.Addr().Is6() && s.DualStack && s.wildcard()
}

// Groupable reports whether s enters a local group (seed rules): reuseport,
// not jailed, not an IPv6 dual-stack wildcard, not connected.
func (s Spec) Groupable() bool {
	return s.ReusePort && !s.Jailed() && !s.acceptsMapped() && !s.Connected()
}

// dualGroupable reports whether s enters a dual-stack group in a table
// with Config.DualStackGroups: a reuseport IPv6 dual-stack wildcard, not
// jailed (connected ones have a specific address).
func (s Spec) dualGroupable() bool {
	return s.ReusePort && !s.Jailed() && s.acceptsMapped()
}

func is4(a netip.Addr) bool { return a.Is4() || a.Is4In6() }

// Validate reports whether s is well formed. Its error wraps ErrInvalidSpec
// and names the spec and the fault.
func (s Spec) Validate() error {
	if why := s.fault(); why != "" {
		return fmt.Errorf("%w %s: %s", ErrInvalidSpec, s, why)
	}
	return nil
}

func (s Spec) fault() string {
	if s.Proto != UDP && s.Proto != TCP {
		return "protocol must be udp or tcp"
	}
	la := s.Local.Addr()
	switch {
	case !la.IsValid():
		return "no local address"
	case s.Local.Port() == 0:
		return "local port 0"
	case la.Zone() != "":
		return "scoped (zoned) local address not supported"
	case la.Is4() && s.DualStack:
		return "dual-stack set on an IPv4 endpoint"
	case la.Is4In6() && !s.DualStack:
		return "v4-mapped local address needs dual-stack"
	case la.Is4In6() && la.Unmap().IsUnspecified():
		return "v4-mapped unspecified local address (use :: with dual-stack, or 0.0.0.0)"
	}
	if s.HasSlot {
		switch {
		case !s.ReusePort:
			return "slot without reuseport"
		case s.Slot > localgroup.MaxSlot:
			return "slot " + strconv.FormatUint(uint64(s.Slot), 10) + " above " + strconv.Itoa(localgroup.MaxSlot)
		}
	}
	if s.HasQueue && !s.ReusePort {
		return "queue without reuseport"
	}
	fam := s.Family()
	if s.Remote != (netip.AddrPort{}) {
		ra := s.Remote.Addr()
		switch {
		case !ra.IsValid():
			return "remote port without remote address"
		case s.Remote.Port() == 0:
			return "remote port 0"
		case ra.IsUnspecified() || (ra.Is4In6() && ra.Unmap().IsUnspecified()):
			return "unspecified remote address"
		case ra.Zone() != "":
			return "scoped (zoned) remote address not supported"
		case s.wildcard():
			return "connected endpoint needs a specific local address"
		case (fam == IPv4) != is4(ra):
			return "remote address family differs from local"
		}
	}
	ok4, ok6 := fam == IPv4 || s.acceptsMapped(), fam == IPv6
	inJail := false
	for _, j := range s.Jail {
		switch {
		case !j.IsValid() || j.IsUnspecified():
			return "invalid or unspecified jail address"
		case j.Zone() != "":
			return "scoped (zoned) jail address not supported"
		case is4(j) && !ok4, !is4(j) && !ok6:
			return "jail address " + j.String() + " of a family the endpoint cannot receive"
		}
		if AddrFrom(j) == AddrFrom(la) {
			inJail = true
		}
	}
	if s.Jailed() && !s.wildcard() && !inJail {
		return "local address not in the jail"
	}
	return ""
}
