package rxq

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// probeOptions is the smallest socket a probe needs.
func probeOptions(zc ZeroCopy, wakeup bool) *SocketOptions {
	return &SocketOptions{
		NumFrames: 64, FrameSize: 4096,
		FillRingSize: 64, CompletionRingSize: 64, RXRingSize: 64,
		ZeroCopy: zc, NeedWakeup: wakeup,
	}
}

// needWakeup caches HaveNeedWakeup's conclusive answer (see conclusive).
var needWakeup struct {
	mu   sync.Mutex
	done bool
	ok   bool
	err  error
}

// HaveNeedWakeup reports whether the kernel accepts XDP_USE_NEED_WAKEUP
// (Linux 5.4 and later). It binds a throw-away copy-mode socket to the
// loopback device of the calling thread's network namespace. A conclusive
// answer (yes, no, or AF_XDP not supported) is cached; a probe that failed
// for another reason, such as a missing CAP_NET_RAW/CAP_NET_ADMIN
// (ErrPermission), is not, and the next call asks the kernel again
// (cilium/ebpf internal/feature.go does the same).
func HaveNeedWakeup() (bool, error) {
	needWakeup.mu.Lock()
	defer needWakeup.mu.Unlock()
	if needWakeup.done {
		return needWakeup.ok, needWakeup.err
	}
	ok, err := probeNeedWakeup()
	if conclusive(err) {
		needWakeup.done, needWakeup.ok, needWakeup.err = true, ok, err
	}
	return ok, err
}

// conclusive reports whether a probe's error is an answer about the kernel
// (nil, or ErrNotSupported) rather than about the caller (ErrPermission) or
// a passing condition, and so may be cached.
func conclusive(err error) bool {
	return err == nil || errors.Is(err, ErrNotSupported) && !errors.Is(err, ErrPermission)
}

func probeNeedWakeup() (bool, error) {
	lo, err := loopbackIndex()
	if err != nil {
		return false, err
	}
	s, err := NewSocket(lo, 0, probeOptions(ZeroCopyOff, true))
	if err == nil {
		return true, s.Close()
	}
	if errors.Is(err, ErrPermission) || errors.Is(err, ErrNotSupported) {
		return false, err
	}
	// An older kernel rejects the unknown bind flag with EINVAL.
	s, err2 := NewSocket(lo, 0, probeOptions(ZeroCopyOff, false))
	if err2 != nil {
		return false, fmt.Errorf("probe need-wakeup: %w", err)
	}
	return false, s.Close()
}

func loopbackIndex() (int, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return i.Index, nil
		}
	}
	return 0, fmt.Errorf("probe: no loopback device: %w", ErrNoInterface)
}

var zeroCopy sync.Map // [2]int{ifindex, queue} -> bool

// HaveZeroCopy reports whether the device ifindex (in the calling thread's
// network namespace) supports zero-copy AF_XDP on queue, by binding a
// throw-away socket with XDP_ZEROCOPY. Answers are cached per (ifindex,
// queue); errors, such as ErrPermission, are not, so the next call asks
// again. The queue must not be bound by another socket at the time (EBUSY).
func HaveZeroCopy(ifindex, queue int) (bool, error) {
	key := [2]int{ifindex, queue}
	if v, ok := zeroCopy.Load(key); ok {
		return v.(bool), nil
	}
	s, err := NewSocket(ifindex, queue, probeOptions(ZeroCopyForce, false))
	switch {
	case err == nil:
		zeroCopy.Store(key, true)
		return true, s.Close()
	case conclusive(err):
		zeroCopy.Store(key, false)
		return false, nil
	}
	return false, fmt.Errorf("probe zero-copy on ifindex %d queue %d: %w", ifindex, queue, err)
}
