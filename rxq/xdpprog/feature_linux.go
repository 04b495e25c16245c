//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package xdpprog

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// haveXDPLink caches HaveXDPLink's conclusive answer: nil or
// ErrNotSupported.
var haveXDPLink struct {
	mu   sync.Mutex
	done bool
	err  error
}

// HaveXDPLink reports, with nil, whether XDP programs can be attached through
// a bpf_link (Linux 5.9 and later), the only way Attach attaches. The probe
// loads a two-instruction XDP program and attaches it, in generic mode, to the
// loopback device of a fresh, throwaway network namespace, so it touches no
// real interface. A conclusive answer (nil, or ErrNotSupported) is cached;
// any other failure is not, and the next call probes again (cilium/ebpf
// internal/feature.go). It needs root (CAP_SYS_ADMIN for the namespace,
// CAP_BPF and CAP_NET_ADMIN); without, it returns ErrPermission, uncached.
func HaveXDPLink() error {
	haveXDPLink.mu.Lock()
	defer haveXDPLink.mu.Unlock()
	if haveXDPLink.done {
		return haveXDPLink.err
	}
	err := probeXDPLink()
	if err == nil || errors.Is(err, ErrNotSupported) && !errors.Is(err, ErrPermission) {
		haveXDPLink.done, haveXDPLink.err = true, err
	}
	return err
}

func probeXDPLink() error {
	if err := features.HaveProgramType(ebpf.XDP); err != nil {
		return fmt.Errorf("probe xdp link: program type xdp: %w", classify(err))
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("probe xdp link: %w", classify(err))
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.XDP,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 2), // XDP_PASS
			asm.Return(),
		},
		License: "MIT",
	})
	if err != nil {
		return fmt.Errorf("probe xdp link: load program: %w", classify(err))
	}
	defer prog.Close()

	// The namespace switch happens on a goroutine of its own: if the thread
	// cannot be switched back, the goroutine exits still locked and the
	// runtime discards the thread.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- probeInFreshNS(prog)
	}()
	return <-errc
}

func probeInFreshNS(prog *ebpf.Program) (err error) {
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("probe xdp link: get netns: %w", classify(err))
	}
	defer orig.Close()
	fresh, err := netns.New() // also switches this thread into it
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("probe xdp link: new netns: %w", classify(err))
	}
	defer fresh.Close()
	defer func() {
		if rerr := netns.Set(orig); rerr != nil {
			// Leave the thread locked: it dies with the goroutine.
			err = errors.Join(err, fmt.Errorf("probe xdp link: restore netns: %w", rerr))
			return
		}
		runtime.UnlockOSThread()
	}()

	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("probe xdp link: loopback: %w", err)
	}
	l, err := link.AttachXDP(link.XDPOptions{
		Program:   prog,
		Interface: lo.Attrs().Index,
		Flags:     link.XDPGenericMode,
	})
	if err != nil {
		return fmt.Errorf("probe xdp link: attach: %w", classify(err))
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("probe xdp link: detach: %w", err)
	}
	return nil
}
