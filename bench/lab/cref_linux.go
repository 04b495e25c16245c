package lab

import (
	"errors"
	"fmt"
	"os"

	"github.com/vishvananda/netlink"

	"github.com/xdpmux/xdpmux/bench/cref"
)

// runCRef measures the C AF_XDP reference (bench/cref): built with cc
// against libxdp here and now, run in the receiving namespace on every
// queue with the Go sockets' ring sizes. Without libxdp-dev the row is
// skipped with a note. libxdp loads its own redirect program, so this runs
// while no other XDP program is attached; whatever program is left on the
// interface afterwards is detached.
func (h *harness) runCRef() error {
	if h.skip(SystemCRef) {
		return nil
	}
	bin, err := cref.Build(h.dir)
	if errors.Is(err, cref.ErrNoLibxdp) {
		h.rep.Setup.CRef = "skipped: " + err.Error()
		h.note("%s skipped: %v", SystemCRef, err)
		return nil
	}
	if err != nil {
		return err
	}
	h.rep.Setup.CRef = "bench/cref/csrc/rxdrop.c, cc -O2 -lxdp -lbpf, copy mode, native XDP, one thread per queue"
	if err := h.portFree(); err != nil {
		return err
	}
	p, err := cref.Start(bin, h.lab.RecvNS, h.lab.RecvIf, Queues, h.cfg.NumFrames)
	if err != nil {
		return errors.Join(err, h.detachXDP())
	}
	c := func() ([]uint64, map[string]uint64, error) {
		cs, err := p.Counters()
		if err != nil {
			return nil, nil, err
		}
		return cs.Packets, map[string]uint64{
			"xsk_rx_dropped": cs.RxDropped, "xsk_rx_ring_full": cs.RxRingFull, "xsk_rx_invalid_descs": cs.RxInvalidDescs,
		}, nil
	}
	var errs []error
	for _, ld := range h.loads() {
		if _, err := h.measure(SystemCRef, Queues, ld, "", c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ld.name, err))
		}
	}
	errs = append(errs, p.Close(), h.detachXDP())
	return errors.Join(errs...)
}

// detachXDP removes any XDP program from the receiving interface (libxdp
// removes its own when the last socket goes; this makes sure).
func (h *harness) detachXDP() error {
	return h.lab.InRecv(func() error {
		link, err := netlink.LinkByName(h.lab.RecvIf)
		if err != nil {
			return fmt.Errorf("detach xdp: %w", err)
		}
		if x := link.Attrs().Xdp; x == nil || !x.Attached {
			return nil
		}
		h.cfg.logf("detaching the XDP program left on %s", h.lab.RecvIf)
		if err := netlink.LinkSetXdpFd(link, -1); err != nil {
			return fmt.Errorf("detach xdp: %w", err)
		}
		return nil
	})
}

// portFree fails when a kernel UDP socket is bound to the benchmark port
// in the receiving namespace: the XDP program passes a flow a kernel
// socket owns to the kernel, so an AF_XDP phase would measure the kernel.
func (h *harness) portFree() error {
	return h.lab.InRecv(func() error {
		for _, f := range []string{"/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"} {
			b, err := os.ReadFile(f)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			n, err := CountUDPBound(b, h.cfg.Port)
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%d kernel UDP sockets bound to port %d in %s (%s): the phase would measure the kernel",
					n, h.cfg.Port, h.lab.RecvNS, f)
			}
		}
		return nil
	})
}
