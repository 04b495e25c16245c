//go:build linux

package rxq

import "github.com/xdpmux/xdpmux/rxq/internal"

// Hooks for the external tests (package rxq_test), which may import
// labtest: labtest imports rxq, so the in-package tests cannot.

var LoopbackIndex = loopbackIndex

// BusyPollOf reads s's SO_PREFER_BUSY_POLL and SO_BUSY_POLL back.
func BusyPollOf(s *Socket) (prefer bool, us int, err error) { return internal.BusyPoll(s.fd) }

// ZeroCopyCached reports HaveZeroCopy's cached answer for (ifindex, queue).
func ZeroCopyCached(ifindex, queue int) (ok, cached bool) {
	v, cached := zeroCopy.Load([2]int{ifindex, queue})
	if cached {
		ok = v.(bool)
	}
	return ok, cached
}

// ForgetNeedWakeup drops HaveNeedWakeup's cached answer and reports
// whether there was one.
func ForgetNeedWakeup() (had bool) {
	needWakeup.mu.Lock()
	defer needWakeup.mu.Unlock()
	had = needWakeup.done
	needWakeup.done, needWakeup.ok, needWakeup.err = false, false, nil
	return had
}

// ForgetZeroCopy drops HaveZeroCopy's cached answer for (ifindex, queue).
func ForgetZeroCopy(ifindex, queue int) { zeroCopy.Delete([2]int{ifindex, queue}) }
