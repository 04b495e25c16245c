package dataplane

import (
	"runtime"

	"github.com/xdpmux/xdpmux/dataplane/internal/affinity"
)

// PinThread locks the calling goroutine to its OS thread and restricts
// that thread to cpu: for an application's reader that lives next to its
// queue's worker (Config.CPUs pins worker q; a queue-local member declares
// q, pcb.Spec.HasQueue). The goroutine should stay locked: when it exits
// locked, the runtime ends the thread instead of handing a pinned thread
// to other goroutines. It fails where pinning is not supported, or for a
// CPU outside the allowed set (the goroutine stays locked).
func PinThread(cpu int) error {
	runtime.LockOSThread()
	return affinity.Pin(cpu)
}
