//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package xdpprog

import (
	"encoding/binary"
	"errors"
	"fmt"
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
}

// Attach loads the program and its maps and attaches it to the interface
// with index ifindex, in the network namespace of the calling OS thread. It
// tries native (driver) mode first and falls back to generic mode, unless
// opts.ForceGeneric is set. On error nothing is left loaded or attached.
func Attach(ifindex int, opts Options) (*Program, error) {
	if ifindex <= 0 {
		return nil, fmt.Errorf("attach xdp: bad ifindex %d", ifindex)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("attach xdp: remove memlock rlimit: %w", classify(err))
	}
	objs := new(xdpmuxObjects)
	if err := loadXdpmuxObjects(objs, nil); err != nil {
		return nil, fmt.Errorf("attach xdp: load objects: %w", classify(err))
	}
	p := &Program{objs: objs, ifindex: ifindex}
	if opts.DropClaimed {
		if err := p.setConfig(configDropClaimed); err != nil {
			objs.Close()
			return nil, fmt.Errorf("attach xdp: %w", err)
		}
	}

	var nativeErr error
	if !opts.ForceGeneric {
		l, err := link.AttachXDP(link.XDPOptions{
			Program:   objs.Xdpmux,
			Interface: ifindex,
			Flags:     link.XDPDriverMode,
		})
		if err == nil {
			p.link, p.mode = l, ModeNative
			return p, nil
		}
		nativeErr = classify(err)
		if errors.Is(nativeErr, ErrPermission) {
			objs.Close()
			return nil, fmt.Errorf("attach xdp to ifindex %d: %w", ifindex, nativeErr)
		}
	}
	l, err := link.AttachXDP(link.XDPOptions{
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
	p.link, p.mode = l, ModeGeneric
	return p, nil
}

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

func claimKey(proto uint8, port uint16) (xdpmuxClaimKey, error) {
	if proto != ProtoTCP && proto != ProtoUDP {
		return xdpmuxClaimKey{}, fmt.Errorf("%w: %d", ErrProto, proto)
	}
	// The map holds the port in network byte order, as the program reads
	// it from the header; the generated struct is encoded in host order.
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], port)
	return xdpmuxClaimKey{Proto: proto, Port: binary.NativeEndian.Uint16(b[:])}, nil
}

// Claim makes the program redirect frames with this IP protocol (ProtoTCP,
// ProtoUDP) and destination port (host byte order) to the AF_XDP sockets.
// Claiming a claimed port again is not an error.
func (p *Program) Claim(proto uint8, port uint16) error {
	key, err := claimKey(proto, port)
	if err != nil {
		return fmt.Errorf("claim port %d: %w", port, err)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return fmt.Errorf("claim %d/%d: %w", proto, port, ErrClosed)
	}
	if err := p.objs.Claimed.Update(&key, uint8(1), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("claim %d/%d: %w", proto, port, err)
	}
	return nil
}

// Unclaim gives (proto, port) back to the kernel. Unclaiming a port that is
// not claimed is not an error.
func (p *Program) Unclaim(proto uint8, port uint16) error {
	key, err := claimKey(proto, port)
	if err != nil {
		return fmt.Errorf("unclaim port %d: %w", port, err)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return fmt.Errorf("unclaim %d/%d: %w", proto, port, ErrClosed)
	}
	err = p.objs.Claimed.Delete(&key)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unclaim %d/%d: %w", proto, port, err)
	}
	return nil
}

// SetDropClaimed switches drop-claimed mode: on, claimed frames are dropped
// in the program (XDP_DROP, counted as Dropped) instead of redirected.
func (p *Program) SetDropClaimed(on bool) error {
	var flags uint32
	if on {
		flags = configDropClaimed
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return fmt.Errorf("set drop-claimed: %w", ErrClosed)
	}
	return p.setConfig(flags)
}

func (p *Program) setConfig(flags uint32) error {
	if err := p.objs.Config.Update(uint32(0), flags, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("set config flags %#x: %w", flags, err)
	}
	return nil
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
		}
		if c.Redirected|c.Passed|c.Dropped != 0 {
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
