//go:build linux

package dataplane

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// Interface is a Dataplane serving receive queues of a network interface:
// the xdpmux XDP program attached to it, one AF_XDP socket per served
// queue, registered in the program's XSKMAP, and the running workers. The
// embedded Dataplane binds endpoints; the program claims their ports.
type Interface struct {
	*Dataplane
	Program *xdpprog.Program
	Sockets []*rxq.Socket // by dataplane queue

	info      InterfaceInfo
	view      *nsView // the interface's namespace: addresses, kernel sockets
	closeOnce sync.Once
	closeErr  error
}

// OpenInterface attaches the XDP program to cfg.Ifname (native mode, or
// generic when the driver lacks native XDP), opens an AF_XDP socket on each
// of cfg.Queues, registers each in the program's XSKMAP, and starts a
// Dataplane over them whose Claimer is the program.
//
// It must be called from the network namespace that owns the interface:
// it resolves the name, attaches the program and binds the sockets in the
// calling OS thread's namespace (in a netlab lab: inside lab.InRecv). The
// workers it starts keep serving after the caller leaves that namespace:
// they only use the file descriptors.
//
// OpenInterface also takes, in that namespace, what binds are checked
// against (Bind): unless set in cfg.Config, LocalAddrs are every address of
// the namespace, kept up to date by an address subscription until Close;
// KernelSockets asks sock_diag; Access.UnprivilegedPortStart is the
// namespace's net.ipv4.ip_unprivileged_port_start.
//
// Errors name the interface and queue; a missing privilege wraps
// ErrPermission, an unknown interface rxq.ErrNoInterface, a queue out of
// range rxq.ErrNoQueue. On error everything set up so far is undone.
func OpenInterface(cfg InterfaceConfig) (_ *Interface, err error) {
	link, err := netlink.LinkByName(cfg.Ifname)
	if err != nil {
		if isPerm(err) {
			return nil, fmt.Errorf("interface %q: %w: %w", cfg.Ifname, ErrPermission, err)
		}
		return nil, fmt.Errorf("interface %q: not found: %w", cfg.Ifname, rxq.ErrNoInterface)
	}
	ifindex := link.Attrs().Index
	nrx := link.Attrs().NumRxQueues
	if nrx <= 0 {
		nrx = rxq.SysfsRXQueues(cfg.Ifname)
	}
	if nrx <= 0 {
		nrx = 1
	}
	queues := cfg.Queues
	if queues == nil {
		queues = make([]int, nrx)
		for q := range queues {
			queues[q] = q
		}
	} else {
		queues = append([]int(nil), queues...)
	}
	if len(queues) == 0 {
		return nil, fmt.Errorf("interface %q: %w: no queues", cfg.Ifname, ErrInvalidConfig)
	}
	seen := make(map[int]bool, len(queues))
	for _, q := range queues {
		switch {
		case q < 0 || q >= nrx:
			return nil, fmt.Errorf("interface %q: queue %d out of range: it has %d rx queues: %w",
				cfg.Ifname, q, nrx, rxq.ErrNoQueue)
		case q >= xdpprog.MaxQueues:
			return nil, fmt.Errorf("interface %q: queue %d: %w", cfg.Ifname, q, xdpprog.ErrQueueRange)
		case seen[q]:
			return nil, fmt.Errorf("interface %q: %w: queue %d given twice", cfg.Ifname, ErrInvalidConfig, q)
		}
		seen[q] = true
	}
	sopts := cfg.Socket
	if sopts == (rxq.SocketOptions{}) {
		sopts = rxq.DefaultSocketOptions()
	}
	if sopts.SharedUMEM != nil {
		return nil, fmt.Errorf("interface %q: %w: Socket.SharedUMEM must be nil", cfg.Ifname, ErrInvalidConfig)
	}
	if err := sopts.Validate(); err != nil {
		return nil, fmt.Errorf("interface %q: %w", cfg.Ifname, err)
	}

	if err := checkHash(cfg.Config.Hash); err != nil {
		return nil, fmt.Errorf("interface %q: %w", cfg.Ifname, err)
	}
	if cfg.Config.Hash == HashNIC {
		cfg.XDP.NICHash = true
	}
	prog, err := xdpprog.Attach(ifindex, cfg.XDP)
	if err != nil {
		return nil, wrapPerm(fmt.Errorf("interface %q: %w", cfg.Ifname, err))
	}
	ifc := &Interface{Program: prog, info: InterfaceInfo{Ifname: cfg.Ifname}}
	defer func() {
		if err != nil {
			err = errors.Join(err, ifc.teardown())
		}
	}()
	if ifc.view, err = openNSView(); err != nil {
		return nil, wrapPerm(fmt.Errorf("interface %q: %w", cfg.Ifname, err))
	}
	for _, q := range queues {
		s, err := rxq.NewSocket(ifindex, q, &sopts)
		if err != nil {
			return nil, wrapPerm(fmt.Errorf("interface %q queue %d: %w", cfg.Ifname, q, err))
		}
		ifc.Sockets = append(ifc.Sockets, s)
		if err := prog.Register(q, s.FD()); err != nil {
			return nil, wrapPerm(fmt.Errorf("interface %q: %w", cfg.Ifname, err))
		}
	}

	if err := ifc.build(cfg, ifindex, nrx, queues, sopts.NeedWakeup); err != nil {
		return nil, err
	}
	if err := ifc.Dataplane.Start(); err != nil {
		return nil, fmt.Errorf("interface %q: %w", cfg.Ifname, err)
	}
	return ifc, nil
}

// build makes the Dataplane over ifc's program and sockets, not started.
func (ifc *Interface) build(cfg InterfaceConfig, ifindex, nrx int, queues []int, needWakeup bool) (err error) {
	dcfg := cfg.Config
	dcfg.Sources = make([]rxq.Source, len(queues))
	for i, s := range ifc.Sockets {
		if s.Queue() == i {
			dcfg.Sources[i] = s
		} else {
			dcfg.Sources[i] = &aliasSource{Socket: s, queue: i}
		}
	}
	dcfg.Claimer = ifc.Program
	if dcfg.Table.Queues == 0 {
		dcfg.Table.Queues = nrx
	}
	if dcfg.Access.UnprivilegedPortStart == 0 {
		n, err := unprivilegedPortStart()
		if err != nil {
			return fmt.Errorf("interface %q: %w", cfg.Ifname, err)
		}
		// 0 in the sysctl means every port is unprivileged: -1 in
		// Access, where 0 means unset.
		dcfg.Access.UnprivilegedPortStart = n
		if n == 0 {
			dcfg.Access.UnprivilegedPortStart = -1
		}
	}
	if dcfg.KernelSockets == nil {
		dcfg.KernelSockets = diagSockets{ifc.view.diag}
	}
	if dcfg.Neighbors == nil {
		nt, err := ifc.view.neighbors(ifindex)
		if err != nil {
			return wrapPerm(fmt.Errorf("interface %q: %w", cfg.Ifname, err))
		}
		dcfg.Neighbors = nt
	}
	var updates chan netlink.AddrUpdate
	if dcfg.LocalAddrs == nil {
		// Subscribe before listing, so no change falls in between.
		if updates, err = ifc.view.subscribe(); err != nil {
			return wrapPerm(fmt.Errorf("interface %q: %w", cfg.Ifname, err))
		}
		if dcfg.LocalAddrs, err = ifc.view.addrs(); err != nil {
			return wrapPerm(fmt.Errorf("interface %q: %w", cfg.Ifname, err))
		}
	}
	// The NIC's RSS key, when it hashes with Toeplitz, makes the software
	// hash's queue bits the ones the NIC used.
	rinfo, rerr := rxq.ReadRSS(cfg.Ifname)
	rssSt, nicKey := rssStatus(rinfo, rerr, nrx, dcfg.Key != nil)
	if nicKey != nil {
		dcfg.Key = nicKey
	}
	var hashNote string
	if dcfg.Hash == HashNIC {
		if ifc.Program.NICHash() {
			hashNote = "the driver's hash where it gives one (bpf_xdp_metadata_rx_hash), software Toeplitz for the other frames"
		} else {
			// No metadata is written: every frame would fall back.
			dcfg.Hash = HashToeplitz
			hashNote = ifc.Program.NICHashNote()
			if hashNote == "" {
				hashNote = "the attached program writes no NIC hash: software Toeplitz"
			}
		}
	}
	d, err := New(dcfg)
	if err != nil {
		return fmt.Errorf("interface %q: %w", cfg.Ifname, err)
	}
	ifc.Dataplane = d
	if updates != nil {
		ifc.view.watch(d, updates)
	}
	ifc.info = InterfaceInfo{
		Ifname:     cfg.Ifname,
		Ifindex:    ifindex,
		Queues:     queues,
		RxQueues:   nrx,
		XDPMode:    ifc.Program.Mode().String(),
		SocketMode: ifc.Sockets[0].Mode().String(),
		NeedWakeup: needWakeup,
		HashMode:   d.HashMode(),
		HashNote:   hashNote,
		RSS:        &rssSt,
	}
	return nil
}

// aliasSource serves interface queue Socket.Queue() as dataplane queue
// queue, when the served queues are not 0..n-1.
type aliasSource struct {
	*rxq.Socket
	queue int
}

func (a *aliasSource) Queue() int { return a.queue }

func isPerm(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, ErrPermission)
}

// wrapPerm adds ErrPermission to err's chain when the cause is a missing
// privilege.
func wrapPerm(err error) error {
	if isPerm(err) && !errors.Is(err, ErrPermission) {
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}

// Close stops the dataplane (closing every endpoint), removes the sockets
// from the XSKMAP, closes them and detaches the program. Frames an
// application still holds must not be used afterwards. It is idempotent.
func (i *Interface) Close() error {
	i.closeOnce.Do(func() { i.closeErr = i.teardown() })
	return i.closeErr
}

func (i *Interface) teardown() error {
	var errs []error
	if i.view != nil {
		i.view.stop() // no address change reaches the dataplane from here on
	}
	if i.Dataplane != nil {
		if err := i.Dataplane.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range i.Sockets {
		if err := i.Program.Unregister(s.Queue()); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range i.Sockets {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := i.Program.Close(); err != nil {
		errs = append(errs, err)
	}
	if i.view != nil {
		i.view.close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close interface %q: %w", i.info.Ifname, err)
	}
	return nil
}

// Info describes the interface, its served queues and how the program and
// sockets are attached.
func (i *Interface) Info() InterfaceInfo {
	in := i.info
	in.Queues = append([]int(nil), i.info.Queues...)
	return in
}

// XDPStats returns, for each served queue in dataplane order, the socket's
// XDP_STATISTICS and the program's counters.
func (i *Interface) XDPStats() ([]QueueXDPStats, error) {
	pc, err := i.Program.Counters()
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", i.info.Ifname, err)
	}
	byQueue := make(map[int]xdpprog.QueueCounters, len(pc))
	for _, c := range pc {
		byQueue[c.Queue] = c
	}
	out := make([]QueueXDPStats, len(i.Sockets))
	for q, s := range i.Sockets {
		st, err := s.Stats()
		if err != nil {
			return nil, fmt.Errorf("interface %q: %w", i.info.Ifname, err)
		}
		c := byQueue[s.Queue()]
		c.Queue = s.Queue()
		out[q] = QueueXDPStats{Queue: q, IfQueue: s.Queue(), Socket: st, Program: c}
	}
	return out, nil
}
