package dataplane

import (
	"errors"
	"fmt"

	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
)

// EndpointOptions are per-endpoint options of Bind.
type EndpointOptions struct {
	// Drain: when this endpoint closes, the frames still queued on it are
	// re-steered to the remaining members of its group (looked up again in
	// the updated table) instead of being dropped. Either way they are
	// counted (Resteered or ClosedDropped).
	Drain bool
	// RingSize overrides Config.RingSize for this endpoint's rings.
	RingSize int
	// PeerCacheSize is how many peers the endpoint remembers (rounded up to
	// a power of two; 0 means DefaultPeerCacheSize, at most
	// MaxPeerCacheSize): the link header and queue of each remote address
	// it received from, which WriteTo, SendIP and AppendFrame send with.
	// GrowPeerCache enlarges it later.
	PeerCacheSize int
	// Cred is who binds, checked against Config.Access; nil means the
	// embedding process itself (its effective uid and CAP_NET_BIND_SERVICE
	// in CapEff). The control socket sets the peer's.
	Cred *Cred
	// Handler, if set, makes the endpoint run to completion (handler.go,
	// docs/DATAPLANE.md): each queue's worker calls it with the batch of
	// frames delivered to the endpoint on that queue, on the worker's own
	// goroutine, and Receive and TryReceive are not supported. In-process
	// API only: Bind refuses a Handler with a Cred (ErrInvalidConfig).
	Handler Handler
}

// broadcast sends m to every worker and waits until each has applied it: on
// return, no worker uses the state m replaced. ctlMu must be held. Before
// Start the workers' state is changed here directly; once stopped, m is
// dropped.
func (d *Dataplane) broadcast(m *ctlMsg) {
	n := len(d.workers)
	m.errs = make([]error, n)
	if m.op == msgAccount {
		m.account = make([]frameAccount, n)
	}
	if !d.started {
		for _, w := range d.workers {
			m.wg.Add(1)
			w.handle(m)
			m.wg.Done()
		}
		return
	}
	m.wg.Add(n)
	for _, w := range d.workers {
		w.post(m)
	}
	m.wg.Wait()
}

// allocID returns the smallest free endpoint ID. IDs are dense so that a
// worker finds an endpoint's ring by indexing a slice; an ID is reused only
// after every worker has applied its unbind.
func (d *Dataplane) allocID() pcb.EndpointID {
	if n := len(d.freeIDs); n > 0 {
		id := d.freeIDs[n-1]
		d.freeIDs = d.freeIDs[:n-1]
		return id
	}
	d.eps = append(d.eps, nil)
	return pcb.EndpointID(len(d.eps) - 1)
}

// Bind binds an endpoint (SPEC section 4). On return every worker delivers
// the endpoint's traffic.
//
// The bind is checked as the kernel would check a socket's bind by the same
// user in the dataplane's namespace, in the kernel's order, before anything
// is claimed (docs/SEMANTICS.md, "Who may bind what"): a specific local
// address must be local (ErrAddrNotAvail, matching syscall.EADDRNOTAVAIL);
// opts.Cred must be allowed the port by Config.Access (ErrPermission,
// matching syscall.EACCES); no kernel socket may hold the address and port
// (pcb.ErrAddrInUse, matching syscall.EADDRINUSE), nor another endpoint
// (pcb.ErrAddrInUse, pcb.ErrGroupFull). Other errors wrap
// pcb.ErrInvalidSpec, ErrInvalidConfig or ErrClosed. Every error names the
// spec.
func (d *Dataplane) Bind(spec pcb.Spec, opts EndpointOptions) (*Endpoint, error) {
	size := opts.RingSize
	if size == 0 {
		size = d.cfg.RingSize
	}
	if err := checkRingSize(size); err != nil {
		return nil, fmt.Errorf("bind %s: %w", spec, err)
	}
	if err := checkPeerCacheSize(opts.PeerCacheSize); err != nil {
		return nil, fmt.Errorf("bind %s: %w", spec, err)
	}
	if opts.Handler != nil && opts.Cred != nil {
		return nil, fmt.Errorf("bind %s: %w", spec, errHandlerCred)
	}
	if err := d.lockCtl("bind " + spec.String()); err != nil {
		return nil, err
	}
	defer d.ctlMu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("bind %s: %w", spec, ErrClosed)
	}
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if err := d.checkLocal(spec); err != nil {
		return nil, err
	}
	cred := opts.Cred
	if cred == nil {
		self := selfCred()
		cred = &self
	}
	if err := d.cfg.Access.authorize(spec, *cred); err != nil {
		return nil, err
	}
	if err := d.checkKernel(spec); err != nil {
		return nil, err
	}
	ep, err := d.addEndpoint(spec, opts, size)
	if err != nil {
		return nil, err
	}
	m := &ctlMsg{op: msgChange, change: pcb.Change{Op: pcb.OpBind, ID: ep.id, Spec: spec}, ep: ep}
	d.broadcast(m)
	if err := errors.Join(m.errs...); err != nil {
		// The authority accepted what a worker copy refused: the copies
		// have diverged, which is a bug. Undo as far as possible.
		d.unbindLocked(ep)
		return nil, fmt.Errorf("bind %s: worker table out of step: %w", spec, err)
	}
	return ep, nil
}

// addEndpoint binds spec in the authority, claims what it needs and
// records its endpoint, for Bind to hand to the workers. ctlMu held.
func (d *Dataplane) addEndpoint(spec pcb.Spec, opts EndpointOptions, size int) (*Endpoint, error) {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	id := d.allocID()
	if err := d.auth.Bind(id, spec); err != nil {
		d.freeIDs = append(d.freeIDs, id)
		return nil, err // pcb's error names the spec
	}
	// Claimed before any worker can see the binding.
	keys := d.claimSet(spec)
	if err := d.claim(keys); err != nil {
		_ = d.auth.Unbind(id)
		d.freeIDs = append(d.freeIDs, id)
		return nil, fmt.Errorf("bind %s: %w", spec, err)
	}
	d.epClaims[id] = keys
	ep := newEndpoint(d, id, spec, opts, size)
	d.eps[id] = ep
	return ep, nil
}

// unbindLocked removes ep from the authority and every worker, and releases
// its ID and port claim. ctlMu must be held and ep marked closed.
func (d *Dataplane) unbindLocked(ep *Endpoint) error {
	var errs []error
	d.stateMu.Lock()
	if err := d.auth.Unbind(ep.id); err != nil {
		errs = append(errs, err)
	}
	d.stateMu.Unlock()
	m := &ctlMsg{op: msgChange, change: pcb.Change{Op: pcb.OpUnbind, ID: ep.id}, ep: ep, drain: ep.opts.Drain}
	d.broadcast(m)
	errs = append(errs, m.errs...)
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	d.eps[ep.id] = nil
	d.freeIDs = append(d.freeIDs, ep.id)
	// Unclaimed after the last endpoint on the address left every worker.
	if err := d.unclaim(d.epClaims[ep.id]); err != nil {
		errs = append(errs, err)
	}
	delete(d.epClaims, ep.id)
	return errors.Join(errs...)
}

// SetPolicy sets the pick policy of every local group.
func (d *Dataplane) SetPolicy(p localgroup.Policy) error {
	return d.change(pcb.Change{Op: pcb.OpSetPolicy, Policy: p})
}

// SetReuseportExt switches reuseport_ext for proto (SPEC section 4).
func (d *Dataplane) SetReuseportExt(proto pcb.Proto, on bool) error {
	if proto != pcb.UDP && proto != pcb.TCP {
		return fmt.Errorf("set reuseport_ext %v: %w: protocol must be udp or tcp", proto, ErrInvalidConfig)
	}
	return d.change(pcb.Change{Op: pcb.OpSetReuseportExt, Proto: proto, On: on})
}

func (d *Dataplane) change(c pcb.Change) error {
	if err := d.lockCtl(c.Op.String()); err != nil {
		return err
	}
	defer d.ctlMu.Unlock()
	if d.closed {
		return fmt.Errorf("%v: %w", c.Op, ErrClosed)
	}
	d.stateMu.Lock()
	err := d.auth.Apply(c)
	d.stateMu.Unlock()
	if err != nil {
		return fmt.Errorf("%v: %w", c.Op, err)
	}
	m := &ctlMsg{op: msgChange, change: c}
	d.broadcast(m)
	if err := errors.Join(m.errs...); err != nil {
		return fmt.Errorf("%v: worker table out of step: %w", c.Op, err)
	}
	return nil
}

// HashMode returns where the packet hash comes from: HashToeplitz or
// HashNIC (Config.Hash).
func (d *Dataplane) HashMode() string { return d.cfg.Hash }

// Policy returns the current pick policy.
func (d *Dataplane) Policy() localgroup.Policy {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	return d.auth.Policy()
}

// GroupMembers returns the IDs of the members of ep's local group in pick
// order, or nil if ep is not in a group.
func (d *Dataplane) GroupMembers(ep *Endpoint) []pcb.EndpointID {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	return d.auth.GroupMembers(ep.id)
}
