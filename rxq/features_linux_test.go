package rxq_test

import (
	"errors"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq"
)

func TestHaveNeedWakeup(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN")
	ok, err := rxq.HaveNeedWakeup()
	if err != nil {
		t.Fatalf("HaveNeedWakeup: %v", err)
	}
	if !ok {
		t.Errorf("HaveNeedWakeup = false, want true on Linux >= 5.4")
	}
	ok2, err := rxq.HaveNeedWakeup()
	if ok2 != ok || err != nil {
		t.Errorf("cached answer: got %v, %v, want %v, nil", ok2, err, ok)
	}
}

// A probe that fails for lack of privilege is no answer about the kernel:
// it must not be cached, and the next call, with the privilege, asks again.
func TestHaveNeedWakeupAsksAgainAfterPermission(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_SETUID")
	rxq.ForgetNeedWakeup()
	t.Cleanup(func() { rxq.ForgetNeedWakeup() })
	var ok bool
	err := labtest.AsEUID(t, 65534, func() error {
		var err error
		ok, err = rxq.HaveNeedWakeup()
		return err
	})
	if !errors.Is(err, rxq.ErrPermission) || ok {
		t.Fatalf("HaveNeedWakeup as uid 65534: got %v, %v, want false, ErrPermission", ok, err)
	}
	if rxq.ForgetNeedWakeup() {
		t.Fatalf("HaveNeedWakeup cached a failure for lack of privilege")
	}
	if ok, err := rxq.HaveNeedWakeup(); !ok || err != nil {
		t.Fatalf("HaveNeedWakeup as root after the failure: got %v, %v, want true, nil", ok, err)
	}
	if !rxq.ForgetNeedWakeup() {
		t.Errorf("HaveNeedWakeup did not cache its conclusive answer")
	}
}

func TestHaveZeroCopy(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN")
	lo, err := rxq.LoopbackIndex()
	if err != nil {
		t.Fatal(err)
	}
	ok, err := rxq.HaveZeroCopy(lo, 0)
	if err != nil {
		t.Fatalf("HaveZeroCopy(lo): %v", err)
	}
	if ok {
		t.Errorf("HaveZeroCopy(lo) = true, want false: loopback has no zero-copy driver")
	}
	if v, cached := rxq.ZeroCopyCached(lo, 0); !cached || v != ok {
		t.Errorf("answer not cached: %v %v", v, cached)
	}
}

func TestHaveZeroCopyAsksAgainAfterPermission(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_SETUID")
	lo, err := rxq.LoopbackIndex()
	if err != nil {
		t.Fatal(err)
	}
	const queue = 0
	rxq.ForgetZeroCopy(lo, queue)
	err = labtest.AsEUID(t, 65534, func() error {
		_, err := rxq.HaveZeroCopy(lo, queue)
		return err
	})
	if !errors.Is(err, rxq.ErrPermission) {
		t.Fatalf("HaveZeroCopy as uid 65534: got %v, want ErrPermission", err)
	}
	if _, cached := rxq.ZeroCopyCached(lo, queue); cached {
		t.Fatalf("HaveZeroCopy cached a failure for lack of privilege")
	}
	if ok, err := rxq.HaveZeroCopy(lo, queue); ok || err != nil {
		t.Fatalf("HaveZeroCopy as root after the failure: got %v, %v, want false, nil", ok, err)
	}
}
