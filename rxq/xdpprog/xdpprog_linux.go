//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package xdpprog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// configDropClaimed is bit 0 of the config map's flag word.
const configDropClaimed uint32 = 1

// XDP actions (enum xdp_action).
const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpRedirect = 4
)

// Program is the xdpmux XDP program loaded and attached to one interface
// through a bpf_link. Its methods are control-path operations and are safe
// for concurrent use. The attachment lives as long as the link's file
// descriptor: Close, or the death of the process, detaches it.
type Program struct {
	mu      sync.RWMutex
	objs    *xdpmuxObjects // nil once closed
	link    link.Link
	mode    Mode
	ifindex int
	mac     net.HardwareAddr // the interface's MAC, read at Attach
	flags   uint32           // config flag word; guarded by mu (write)
	nicHash bool             // xdpmux_nichash is the attached program
	nicNote string           // why not, when NICHash was asked for
}

// Attach loads the program and its maps and attaches it to the interface
// with index ifindex, in the network namespace of the calling OS thread. It
// reads the interface's MAC address there: the program claims only frames
// sent to it (a later change of the interface's MAC needs a new Attach). It
// tries native (driver) mode first and falls back to generic mode, unless
// opts.ForceGeneric is set. On error nothing is left loaded or attached.
func Attach(ifindex int, opts Options) (*Program, error) {
	if ifindex <= 0 {
		return nil, fmt.Errorf("attach xdp: bad ifindex %d", ifindex)
	}
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("attach xdp: link %d: %w", ifindex, classify(err))
	}
	mac := l.Attrs().HardwareAddr
	if len(mac) != 6 {
		return nil, fmt.Errorf("attach xdp to %s: %w: no Ethernet address (%q)", l.Attrs().Name, ErrNotSupported, mac)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("attach xdp: remove memlock rlimit: %w", classify(err))
	}
	objs, nicErr := loadObjects(ifindex, opts.NICHash)
	if objs == nil {
		return nil, fmt.Errorf("attach xdp: load objects: %w", nicErr)
	}
	p := &Program{objs: objs, ifindex: ifindex, mac: append(net.HardwareAddr(nil), mac...)}
	if opts.DropClaimed {
		p.flags = configDropClaimed
	}
	if err := p.writeConfig(); err != nil {
		objs.Close()
		return nil, fmt.Errorf("attach xdp: %w", err)
	}

	if objs.XdpmuxNichash != nil && !opts.ForceGeneric {
		// A device-bound program runs in native mode only.
		nl, err := link.AttachXDP(link.XDPOptions{
			Program:   objs.XdpmuxNichash,
			Interface: ifindex,
			Flags:     link.XDPDriverMode,
		})
		if err == nil {
			p.link, p.mode, p.nicHash = nl, ModeNative, true
			return p, nil
		}
		if errors.Is(classify(err), ErrPermission) {
			objs.Close()
			return nil, fmt.Errorf("attach xdp (nic hash) to ifindex %d: %w", ifindex, classify(err))
		}
		nicErr = fmt.Errorf("attach device-bound program: %w", classify(err))
	} else if objs.XdpmuxNichash != nil {
		nicErr = errors.New("generic mode cannot run a device-bound program")
	}
	if opts.NICHash {
		p.nicNote = fmt.Sprintf("no NIC hash (%v): software Toeplitz", nicErr)
	}

	var nativeErr error
	if !opts.ForceGeneric {
		nl, err := link.AttachXDP(link.XDPOptions{
			Program:   objs.Xdpmux,
			Interface: ifindex,
			Flags:     link.XDPDriverMode,
		})
		if err == nil {
			p.link, p.mode = nl, ModeNative
			return p, nil
		}
		nativeErr = classify(err)
		if errors.Is(nativeErr, ErrPermission) {
			objs.Close()
			return nil, fmt.Errorf("attach xdp to ifindex %d: %w", ifindex, nativeErr)
		}
	}
	gl, err := link.AttachXDP(link.XDPOptions{
		Program:   objs.Xdpmux,
		Interface: ifindex,
		Flags:     link.XDPGenericMode,
	})
	if err != nil {
		objs.Close()
		if nativeErr != nil {
			return nil, fmt.Errorf("attach xdp to ifindex %d: native: %w; generic: %w", ifindex, nativeErr, classify(err))
		}
		return nil, fmt.Errorf("attach xdp to ifindex %d (generic): %w", ifindex, classify(err))
	}
	p.link, p.mode = gl, ModeGeneric
	return p, nil
}

// loadObjects loads the maps and the xdpmux program, and with nicHash also
// xdpmux_nichash bound to ifindex (BPF_F_XDP_DEV_BOUND_ONLY: it may call
// the device's metadata kfuncs and attach to that device only). When the
// kernel refuses the device-bound program, the rest is loaded without it
// and the error says why (objs.XdpmuxNichash is then nil). A nil objs
// means nothing could be loaded; the error says why.
func loadObjects(ifindex int, nicHash bool) (*xdpmuxObjects, error) {
	spec, err := loadXdpmux()
	if err != nil {
		return nil, err
	}
	var nicErr error
	if nicHash {
		ps := spec.Programs[xdpmuxProgXdpmuxNichash]
		ps.Flags |= unix.BPF_F_XDP_DEV_BOUND_ONLY
		ps.Ifindex = uint32(ifindex)
		objs := new(xdpmuxObjects)
		err := spec.LoadAndAssign(objs, nil)
		if err == nil {
			return objs, nil
		}
		if errors.Is(classify(err), ErrPermission) {
			return nil, classify(err)
		}
		nicErr = fmt.Errorf("load device-bound program: %w", classify(err))
	}
	// Only what the struct names is loaded: not xdpmux_nichash.
	var o struct {
		xdpmuxMaps
		Xdpmux *ebpf.Program `ebpf:"xdpmux"`
	}
	if err := spec.LoadAndAssign(&o, nil); err != nil {
		return nil, classify(err)
	}
	objs := &xdpmuxObjects{xdpmuxMaps: o.xdpmuxMaps}
	objs.Xdpmux = o.Xdpmux
	return objs, nicErr
}

// NICHash reports whether the attached program is xdpmux_nichash, which
// writes the NIC's hash (or a flag saying there is none) before each frame.
func (p *Program) NICHash() bool { return p.nicHash }

// NICHashNote says why Attach with Options.NICHash fell back to the plain
// program; it is empty otherwise.
func (p *Program) NICHashNote() string { return p.nicNote }

// classify adds ErrPermission or ErrNotSupported to err's chain where the
// cause is a missing privilege or feature.
func classify(err error) error {
	switch {
	case errors.Is(err, ErrPermission), errors.Is(err, ErrNotSupported):
		return err
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES), errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: %w", ErrPermission, err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	return err
}

// Mode reports how the program is attached.
func (p *Program) Mode() Mode { return p.mode }

// Ifindex is the interface the program is attached to.
func (p *Program) Ifindex() int { return p.ifindex }

func checkQueue(queue int) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("%w: %d (max %d)", ErrQueueRange, queue, MaxQueues-1)
	}
	return nil
}

// Register puts the AF_XDP socket xskFD into xsks[queue]: from then on the
// claimed frames that arrive on queue are redirected to it. The socket must
// already be bound to this interface and queue.
func (p *Program) Register(queue int, xskFD int) error {
	if err := checkQueue(queue); err != nil {
		return fmt.Errorf("register xsk fd %d: %w", xskFD, err)
	}
	if xskFD < 0 {
		return fmt.Errorf("register queue %d: bad fd %d", queue, xskFD)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return fmt.Errorf("register queue %d: %w", queue, ErrClosed)
	}
	if err := p.objs.Xsks.Update(uint32(queue), uint32(xskFD), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("register queue %d fd %d: %w", queue, xskFD, err)
	}
	return nil
}

// Unregister removes queue's socket from xsks: its claimed frames go to the
// kernel again (XDP_PASS). Unregistering an empty slot is not an error.
func (p *Program) Unregister(queue int) error {
	if err := checkQueue(queue); err != nil {
		return fmt.Errorf("unregister: %w", err)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return fmt.Errorf("unregister queue %d: %w", queue, ErrClosed)
	}
	err := p.objs.Xsks.Delete(uint32(queue))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unregister queue %d: %w", queue, err)
	}
	return nil
}

// claimKey builds the claimed map's key.
func claimKey(proto uint8, addr netip.Addr, port uint16) (xdpmuxClaimKey, error) {
	c, err := newClaim(proto, addr, port)
	if err != nil {
		return xdpmuxClaimKey{}, err
	}
	// The map holds the address and port in network byte order, as the
	// program reads them from the headers; the generated struct is
	// encoded in host order.
	k := xdpmuxClaimKey{Proto: c.proto, Family: c.family}
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], port)
	k.Port = binary.NativeEndian.Uint16(b[:])
	for i := range k.Addr {
		k.Addr[i] = binary.NativeEndian.Uint32(c.addr[4*i:])
	}
	return k, nil
}

// Claim makes the program redirect frames with this IP protocol (ProtoTCP,
// ProtoUDP), destination address and destination port (host byte order) to
// the AF_XDP sockets, unless a kernel socket owns the frame's 4-tuple. addr
// is one specific address: IPv4 (a 4in6 address counts as IPv4) or IPv6;
// an unspecified, invalid or zoned address is an error wrapping
// ErrInvalidClaim. Claiming a claimed (proto, addr, port) again is not an
// error.
func (p *Program) Claim(proto uint8, addr netip.Addr, port uint16) error {
	key, err := claimKey(proto, addr, port)
	if err != nil {
		return fmt.Errorf("claim %d/%s: %w", proto, netip.AddrPortFrom(addr, port), err)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return fmt.Errorf("claim %d/%s: %w", proto, netip.AddrPortFrom(addr, port), ErrClosed)
	}
	if err := p.objs.Claimed.Update(&key, uint8(1), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("claim %d/%s: %w", proto, netip.AddrPortFrom(addr, port), err)
	}
	return nil
}

// Unclaim gives (proto, addr, port) back to the kernel; addr is checked as
// by Claim. Unclaiming what is not claimed is not an error.
func (p *Program) Unclaim(proto uint8, addr netip.Addr, port uint16) error {
	key, err := claimKey(proto, addr, port)
	if err != nil {
		return fmt.Errorf("unclaim %d/%s: %w", proto, netip.AddrPortFrom(addr, port), err)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return fmt.Errorf("unclaim %d/%s: %w", proto, netip.AddrPortFrom(addr, port), ErrClosed)
	}
	err = p.objs.Claimed.Delete(&key)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unclaim %d/%s: %w", proto, netip.AddrPortFrom(addr, port), err)
	}
	return nil
}

// SetDropClaimed switches drop-claimed mode: on, claimed frames are dropped
// in the program (XDP_DROP, counted as Dropped) instead of redirected.
func (p *Program) SetDropClaimed(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs == nil {
		return fmt.Errorf("set drop-claimed: %w", ErrClosed)
	}
	old := p.flags
	p.flags &^= configDropClaimed
	if on {
		p.flags |= configDropClaimed
	}
	if err := p.writeConfig(); err != nil {
		p.flags = old
		return fmt.Errorf("set drop-claimed: %w", err)
	}
	return nil
}

// writeConfig stores p.flags and p.mac in the config map. The caller holds
// p.mu for writing, or owns p alone.
func (p *Program) writeConfig() error {
	v := xdpmuxConfigValue{Flags: p.flags}
	if len(p.mac) == 6 {
		// As the frame holds them: compared in the program as a u32
		// and a u16 loaded from the destination MAC.
		v.MacLo = binary.NativeEndian.Uint32(p.mac[0:4])
		v.MacHi = binary.NativeEndian.Uint16(p.mac[4:6])
	}
	if err := p.objs.Config.Update(uint32(0), &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("set config (flags %#x, mac %s): %w", p.flags, p.mac, err)
	}
	return nil
}

// Verdict runs the program on frame through BPF_PROG_TEST_RUN, with its
// maps as they are, and reports whether it claims the frame: true when it
// returns XDP_REDIRECT (a socket is registered for queue 0) or XDP_DROP
// (drop-claimed mode). It is for tests and replay, not the data path: the
// run counts in queue 0's counters, and its kernel socket lookup happens in
// the network namespace of the calling OS thread (lock the thread and enter
// the interface's namespace to match the attached program). frame must be
// at least an Ethernet header long.
func (p *Program) Verdict(frame []byte) (redirect bool, err error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return false, fmt.Errorf("xdp verdict: %w", ErrClosed)
	}
	ret, err := p.objs.Xdpmux.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		return false, fmt.Errorf("xdp verdict: test run: %w", classify(err))
	}
	switch ret {
	case xdpDrop, xdpRedirect:
		return true, nil
	case xdpPass:
		return false, nil
	}
	return false, fmt.Errorf("xdp verdict: program returned %d", ret)
}

// Counters returns the counters of the queues that have at least one
// non-zero counter, in queue order, each summed over all possible CPUs.
func (p *Program) Counters() ([]QueueCounters, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return nil, fmt.Errorf("read counters: %w", ErrClosed)
	}
	var (
		out    []QueueCounters
		percpu []xdpmuxQueueCounters
	)
	for q := range MaxQueues {
		if err := p.objs.Counters.Lookup(uint32(q), &percpu); err != nil {
			return nil, fmt.Errorf("read counters of queue %d: %w", q, err)
		}
		c := QueueCounters{Queue: q}
		for _, v := range percpu {
			c.Redirected += v.Redirected
			c.Passed += v.Passed
			c.Dropped += v.Dropped
			c.KernelOwned += v.KernelOwned
			c.NotForHost += v.NotForHost
		}
		if c.Redirected|c.Passed|c.Dropped|c.KernelOwned|c.NotForHost != 0 {
			out = append(out, c)
		}
	}
	return out, nil
}

// Close detaches the program (closing the bpf_link) and releases the program
// and its maps. It is idempotent; every other method returns ErrClosed
// afterwards. AF_XDP sockets registered in xsks are not closed.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs == nil {
		return nil
	}
	var errs []error
	if p.link != nil {
		if err := p.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach xdp link: %w", err))
		}
		p.link = nil
	}
	if err := p.objs.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close xdp objects: %w", err))
	}
	p.objs = nil
	return errors.Join(errs...)
}

// Attached reports whether any XDP program (of any mode, attached by anyone)
// is attached to the interface ifindex in the calling OS thread's network
// namespace.
func Attached(ifindex int) (bool, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return false, fmt.Errorf("xdp attached: link %d: %w", ifindex, err)
	}
	x := l.Attrs().Xdp
	return x != nil && (x.Attached || x.ProgId != 0), nil
}
