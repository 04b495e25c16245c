//go:build linux

package dataplane

import (
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// InterfaceHandover is what a takeover sends along with the descriptors
// (Interface.Handover): the interface, the program's state and each
// socket's, in dataplane queue order.
type InterfaceHandover struct {
	Info    InterfaceInfo     `json:"info"`
	Program xdpprog.State     `json:"program"`
	Sockets []rxq.SocketState `json:"sockets"`
}

// NumFDs is the number of descriptors that go with h: the program's
// (xdpprog.HandoverFDs), then a socket and its UMEM per queue.
func (h *InterfaceHandover) NumFDs() int { return xdpprog.HandoverFDs + 2*len(h.Sockets) }

// Handover pauses the interface's workers, lets the endpoints take what is
// queued for them (Dataplane.Drain, up to drain), and describes the
// program and the sockets, at rest, for AdoptInterface in another process:
// h, and fds to send with it over SCM_RIGHTS (they stay this Interface's).
// withdrawn counts the frames left queued after drain, recycled and
// counted as closed_dropped. The interface stays paused: ResumeServing if
// the other process fails, Abandon once it serves. On error it resumes
// serving itself.
func (i *Interface) Handover(drain time.Duration) (h InterfaceHandover, fds []int, withdrawn int, err error) {
	if err := i.Dataplane.Pause(); err != nil {
		return h, nil, 0, fmt.Errorf("interface %q: hand over: %w", i.info.Ifname, err)
	}
	defer func() {
		if err != nil {
			i.Dataplane.Resume()
		}
	}()
	if withdrawn, err = i.Dataplane.Drain(drain); err != nil {
		return h, nil, withdrawn, fmt.Errorf("interface %q: hand over: %w", i.info.Ifname, err)
	}
	h.Info = i.Info()
	st, pfds, err := i.Program.Handover()
	if err != nil {
		return h, nil, withdrawn, fmt.Errorf("interface %q: %w", i.info.Ifname, err)
	}
	h.Program = st
	fds = append(fds, pfds...)
	for _, s := range i.Sockets {
		ss, err := s.Handover()
		if err != nil {
			return h, nil, withdrawn, fmt.Errorf("interface %q: %w", i.info.Ifname, err)
		}
		h.Sockets = append(h.Sockets, ss)
		fds = append(fds, s.FD(), s.UMEMFD())
	}
	return h, fds, withdrawn, nil
}

// ResumeServing undoes a Handover whose other side did not take over.
func (i *Interface) ResumeServing() error { return i.Dataplane.Resume() }

// Abandon closes the interface in a process whose program and sockets
// another process serves now (after Handover, or an AdoptInterface that is
// given up before StartAdopted): it closes its endpoints, unmaps and
// closes its own descriptors, and neither unregisters a socket, unclaims a
// port nor detaches the program. It is idempotent, and Close does nothing
// after it.
func (i *Interface) Abandon() error {
	var errs []error
	i.closeOnce.Do(func() {
		if i.view != nil {
			i.view.stop()
		}
		if i.Dataplane != nil {
			i.Dataplane.Abandon()
		}
		for _, s := range i.Sockets {
			errs = append(errs, s.Close())
		}
		if i.Program != nil {
			errs = append(errs, i.Program.Close())
		}
		if i.view != nil {
			i.view.close()
		}
	})
	return errors.Join(errs...)
}

// AdoptInterface builds an Interface over the program and sockets another
// process handed over (Interface.Handover): h and its descriptors, which it
// takes (closing them on error). cfg is checked against h: the same
// interface (by name and index, in the calling thread's namespace) and
// queues (nil: h's). The binds' checks (cfg.Config: local addresses,
// kernel sockets, access policy) are this process's, taken as
// OpenInterface takes them.
//
// The Dataplane is not started and the rings are not touched: bind the
// endpoints to carry on (they claim what they bind, as the old process's
// claims already are), then StartAdopted. Until StartAdopted the other
// process can still resume; to give up, Abandon.
func AdoptInterface(cfg InterfaceConfig, h InterfaceHandover, fds []int) (_ *Interface, err error) {
	closeFDs := func(fds []int) {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if len(fds) != h.NumFDs() || len(h.Sockets) == 0 || len(h.Sockets) != len(h.Info.Queues) {
		closeFDs(fds)
		return nil, fmt.Errorf("adopt interface %q: %d descriptors for %d sockets: %w", h.Info.Ifname, len(fds), len(h.Sockets), ErrInvalidConfig)
	}
	bad := func(format string, args ...any) (*Interface, error) {
		closeFDs(fds)
		return nil, fmt.Errorf("adopt interface %q: %w: %s", h.Info.Ifname, ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if cfg.Ifname != h.Info.Ifname {
		return bad("this instance serves %q", cfg.Ifname)
	}
	link, err := netlink.LinkByName(cfg.Ifname)
	if err != nil {
		closeFDs(fds)
		return nil, fmt.Errorf("interface %q: not found: %w", cfg.Ifname, rxq.ErrNoInterface)
	}
	if link.Attrs().Index != h.Info.Ifindex {
		return bad("ifindex %d here, %d in the old instance (another namespace?)", link.Attrs().Index, h.Info.Ifindex)
	}
	if cfg.Queues != nil && fmt.Sprint(cfg.Queues) != fmt.Sprint(h.Info.Queues) {
		return bad("queues %v, the old instance serves %v", cfg.Queues, h.Info.Queues)
	}
	for q, s := range h.Sockets {
		if s.Queue != h.Info.Queues[q] || s.Ifindex != h.Info.Ifindex {
			return bad("socket %d is on ifindex %d queue %d", q, s.Ifindex, s.Queue)
		}
	}
	prog, err := xdpprog.Adopt(h.Program, fds[:xdpprog.HandoverFDs])
	fds = fds[xdpprog.HandoverFDs:]
	if err != nil {
		closeFDs(fds)
		return nil, fmt.Errorf("interface %q: %w", cfg.Ifname, err)
	}
	ifc := &Interface{Program: prog, info: InterfaceInfo{Ifname: cfg.Ifname}}
	defer func() {
		if err != nil {
			closeFDs(fds)
			err = errors.Join(err, ifc.Abandon())
		}
	}()
	for _, ss := range h.Sockets {
		s, err := rxq.AdoptSocket(ss, fds[0], fds[1])
		fds = fds[2:]
		if err != nil {
			return nil, fmt.Errorf("interface %q: %w", cfg.Ifname, err)
		}
		ifc.Sockets = append(ifc.Sockets, s)
	}
	if ifc.view, err = openNSView(); err != nil {
		return nil, wrapPerm(fmt.Errorf("interface %q: %w", cfg.Ifname, err))
	}
	if err := ifc.build(cfg, h.Info.Ifindex, h.Info.RxQueues, h.Info.Queues, h.Info.NeedWakeup); err != nil {
		return nil, err
	}
	ifc.info.SocketMode = h.Info.SocketMode
	return ifc, nil
}

// StartAdopted starts the workers of an adopted Interface (AdoptInterface)
// and removes from the program's claimed map what this process does not
// serve: ports the old process had bound that no endpoint here binds (a
// client that did not come back, a bind the policy here refuses), which
// would otherwise be redirected to no one.
func (i *Interface) StartAdopted() error {
	if err := i.Dataplane.Start(); err != nil {
		return fmt.Errorf("interface %q: %w", i.info.Ifname, err)
	}
	return i.SweepClaims()
}

// SweepClaims unclaims every entry of the program's claimed map that no
// endpoint of this Dataplane holds.
func (i *Interface) SweepClaims() error {
	claims, err := i.Program.Claims()
	if err != nil {
		return fmt.Errorf("interface %q: %w", i.info.Ifname, err)
	}
	d := i.Dataplane
	if err := d.lockCtl("sweep claims"); err != nil {
		return err
	}
	defer d.ctlMu.Unlock()
	var errs []error
	for _, c := range claims {
		if d.claimedLocked(claimKey{proto: pcb.Proto(c.Proto), addr: c.Addr, port: c.Port}) {
			continue
		}
		if err := i.Program.Unclaim(c.Proto, c.Addr, c.Port); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("interface %q: sweep claims: %w", i.info.Ifname, err)
	}
	return nil
}
