package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/xdpmux/xdpmux/pcb"
)

// ErrAddrNotAvail is returned (wrapped) by Bind for a specific local address
// that is not one of the dataplane's local addresses (and
// Config.AllowNonlocal is off). It matches syscall.EADDRNOTAVAIL too, the
// error a kernel socket's bind fails with.
var ErrAddrNotAvail error = &errnoError{"address not available", syscall.EADDRNOTAVAIL}

// errnoError is a sentinel that also matches the errno of the kernel
// socket call it mirrors.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }

// Is reports whether target is the errno e stands for.
func (e *errnoError) Is(target error) bool { return target == e.errno }

// claimKey is one claim of the XDP program: frames of proto to addr:port.
type claimKey struct {
	proto pcb.Proto
	addr  netip.Addr // specific, IPv4 unmapped
	port  uint16
}

func (k claimKey) String() string {
	return k.proto.String() + "/" + netip.AddrPortFrom(k.addr, k.port).String()
}

// normalizeAddrs returns the valid, specified addresses of addrs, IPv4
// unmapped, without zones, sorted and without duplicates.
func normalizeAddrs(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if a.IsValid() && !a.IsUnspecified() {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// isLocal reports whether a (normalized) is a local address. ctlMu held.
func (d *Dataplane) isLocal(a netip.Addr) bool {
	_, ok := slices.BinarySearchFunc(d.local, a, netip.Addr.Compare)
	return ok
}

// checkLocal fails with ErrAddrNotAvail when spec names a specific local
// address that is not local, unless addresses are not checked (no
// LocalAddrs and no Claimer) or AllowNonlocal is set. ctlMu held.
func (d *Dataplane) checkLocal(spec pcb.Spec) error {
	a := spec.Local.Addr().Unmap()
	if !d.checkAddrs || d.cfg.AllowNonlocal || a.IsUnspecified() || d.isLocal(a) {
		return nil
	}
	return fmt.Errorf("bind %s: %s is not a local address: %w", spec, a, ErrAddrNotAvail)
}

// claimSet returns the claims spec needs: its address, when specific; when
// a wildcard, every local address the endpoint can receive (IPv4 for
// 0.0.0.0, IPv6 for ::, both for a dual-stack ::) except loopback ones, and
// only the jail's addresses when jailed. ctlMu held.
func (d *Dataplane) claimSet(spec pcb.Spec) []claimKey {
	port := spec.Local.Port()
	la := spec.Local.Addr()
	if !la.IsUnspecified() {
		return []claimKey{{spec.Proto, la.Unmap(), port}}
	}
	v4, v6 := la.Is4() || spec.DualStack, la.Is6()
	var keys []claimKey
	for _, a := range d.local {
		if a.IsLoopback() || (a.Is4() && !v4) || (a.Is6() && !v6) {
			continue
		}
		if spec.Jailed() && !slices.ContainsFunc(spec.Jail, func(j netip.Addr) bool { return j.Unmap() == a }) {
			continue
		}
		keys = append(keys, claimKey{spec.Proto, a, port})
	}
	return keys
}

// claim adds one reference to each of keys, telling the Claimer about the
// keys that had none. On error it undoes its own claims and references.
// ctlMu held.
func (d *Dataplane) claim(keys []claimKey) error {
	for i, k := range keys {
		if d.claims[k] == 0 && d.cfg.Claimer != nil {
			if err := d.cfg.Claimer.Claim(uint8(k.proto), k.addr, k.port); err != nil {
				// Best effort: the keys before i were claimed or referenced here.
				_ = d.unclaim(keys[:i])
				return fmt.Errorf("claim %s: %w", k, err)
			}
		}
		d.claims[k]++
	}
	return nil
}

// unclaim drops one reference to each of keys and unclaims those left with
// none. ctlMu held.
func (d *Dataplane) unclaim(keys []claimKey) error {
	var errs []error
	for _, k := range keys {
		if d.claims[k]--; d.claims[k] > 0 {
			continue
		}
		delete(d.claims, k)
		if d.cfg.Claimer != nil {
			if err := d.cfg.Claimer.Unclaim(uint8(k.proto), k.addr, k.port); err != nil {
				errs = append(errs, fmt.Errorf("unclaim %s: %w", k, err))
			}
		}
	}
	return errors.Join(errs...)
}

// SetLocalAddrs replaces the set of local addresses (Config.LocalAddrs):
// specific binds are checked against it, and wildcard endpoints' claims
// follow it. Claims for new addresses are made before those of removed
// addresses are dropped. OpenInterface calls it on every address change of
// the interface's namespace. Once called, specific local addresses are
// checked even on a Dataplane that had neither LocalAddrs nor a Claimer.
func (d *Dataplane) SetLocalAddrs(addrs []netip.Addr) error {
	local := normalizeAddrs(addrs)
	if err := d.lockCtl("set local addresses"); err != nil {
		return err
	}
	defer d.ctlMu.Unlock()
	if d.closed {
		return fmt.Errorf("set local addresses: %w", ErrClosed)
	}
	d.checkAddrs = true
	if slices.Equal(local, d.local) {
		return nil
	}
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	d.local = local
	// Every new claim first, then the claims no longer needed, so an
	// address that stays is never unclaimed in between.
	var errs []error
	changed := make(map[pcb.EndpointID][]claimKey)
	for id, old := range d.epClaims {
		keys := d.claimSet(d.eps[id].spec)
		if slices.Equal(keys, old) {
			continue
		}
		if err := d.claim(keys); err != nil {
			errs = append(errs, fmt.Errorf("endpoint %s: %w", d.eps[id].spec, err))
			continue // keeps its old claims
		}
		changed[id] = keys
	}
	for id, keys := range changed {
		if err := d.unclaim(d.epClaims[id]); err != nil {
			errs = append(errs, fmt.Errorf("endpoint %s: %w", d.eps[id].spec, err))
		}
		d.epClaims[id] = keys
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("set local addresses: %w", err)
	}
	return nil
}

// LocalAddrs returns the current local addresses, sorted.
func (d *Dataplane) LocalAddrs() []netip.Addr {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	return slices.Clone(d.local)
}

// Claim is one (protocol, address, port) the dataplane has told its
// Claimer to claim, and how many endpoints need it.
type Claim struct {
	Proto     pcb.Proto
	Addr      netip.Addr
	Port      uint16
	Endpoints int
}

// Claims returns what the XDP program is told to claim, sorted by
// protocol, port and address.
func (d *Dataplane) Claims() []Claim {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	out := make([]Claim, 0, len(d.claims))
	for k, n := range d.claims {
		out = append(out, Claim{k.proto, k.addr, k.port, n})
	}
	slices.SortFunc(out, func(a, b Claim) int {
		if a.Proto != b.Proto {
			return int(a.Proto) - int(b.Proto)
		}
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return a.Addr.Compare(b.Addr)
	})
	return out
}
