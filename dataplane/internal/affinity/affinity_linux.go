// Package affinity pins the calling OS thread to a CPU. It holds the
// dataplane's only system call, so the rest of the package stays portable.
package affinity

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Pin restricts the calling thread to cpu. The caller must have locked its
// goroutine to the thread (runtime.LockOSThread).
func Pin(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to cpu %d: %w", cpu, os.NewSyscallError("sched_setaffinity", err))
	}
	return nil
}
