package affinity

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPin(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &old)
	if err := Pin(0); err != nil {
		t.Fatal(err)
	}
	var got unix.CPUSet
	if err := unix.SchedGetaffinity(0, &got); err != nil {
		t.Fatal(err)
	}
	if got.Count() != 1 || !got.IsSet(0) {
		t.Errorf("after Pin(0): %d cpus, cpu 0 set %v", got.Count(), got.IsSet(0))
	}
	if err := Pin(1 << 20); err == nil {
		t.Error("Pin to a CPU that does not exist succeeded")
	}
}
