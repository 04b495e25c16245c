package rxq

import (
	"testing"

	"github.com/xdpmux/xdpmux/rxq/netlab/labtest"
)

func TestHaveNeedWakeup(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN")
	ok, err := HaveNeedWakeup()
	if err != nil {
		t.Fatalf("HaveNeedWakeup: %v", err)
	}
	if !ok {
		t.Errorf("HaveNeedWakeup = false, want true on Linux >= 5.4")
	}
	ok2, err := HaveNeedWakeup()
	if ok2 != ok || err != nil {
		t.Errorf("cached answer: got %v, %v, want %v, nil", ok2, err, ok)
	}
}

func TestHaveZeroCopy(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN")
	lo, err := loopbackIndex()
	if err != nil {
		t.Fatal(err)
	}
	ok, err := HaveZeroCopy(lo, 0)
	if err != nil {
		t.Fatalf("HaveZeroCopy(lo): %v", err)
	}
	if ok {
		t.Errorf("HaveZeroCopy(lo) = true, want false: loopback has no zero-copy driver")
	}
	if v, cached := zeroCopy.Load([2]int{lo, 0}); !cached || v.(bool) != ok {
		t.Errorf("answer not cached: %v %v", v, cached)
	}
}
