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

var needWakeup struct {
	once sync.Once
	ok   bool
	err  error
}

// HaveNeedWakeup reports whether the kernel accepts XDP_USE_NEED_WAKEUP
// (Linux 5.4 and later). It binds a throw-away copy-mode socket to the
// loopback device of the calling thread's network namespace; the answer is
// cached. It needs CAP_NET_ADMIN (ErrPermission otherwise).
func HaveNeedWakeup() (bool, error) {
	needWakeup.once.Do(func() {
		lo, err := loopbackIndex()
		if err != nil {
			needWakeup.err = err
			return
		}
		s, err := NewSocket(lo, 0, probeOptions(ZeroCopyOff, true))
		if err == nil {
			needWakeup.ok = true
			needWakeup.err = s.Close()
			return
		}
		if errors.Is(err, ErrPermission) || errors.Is(err, ErrNotSupported) {
			needWakeup.err = err
			return
		}
		// An older kernel rejects the unknown bind flag with EINVAL.
		s, err2 := NewSocket(lo, 0, probeOptions(ZeroCopyOff, false))
		if err2 != nil {
			needWakeup.err = fmt.Errorf("probe need-wakeup: %w", err)
			return
		}
		needWakeup.err = s.Close()
	})
	return needWakeup.ok, needWakeup.err
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
// queue); errors are not. The queue must not be bound by another socket
// at the time (EBUSY).
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
	case errors.Is(err, ErrNotSupported) && !errors.Is(err, ErrPermission):
		zeroCopy.Store(key, false)
		return false, nil
	}
	return false, fmt.Errorf("probe zero-copy on ifindex %d queue %d: %w", ifindex, queue, err)
}
