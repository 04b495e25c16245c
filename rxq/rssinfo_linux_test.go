//go:build linux

package rxq_test

import (
	"errors"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq"
)

// TestReadRSS: veth has no RSS (its driver has no get_rxfh): ReadRSS says
// so with ErrNotSupported; an unknown interface is ErrNoInterface.
func TestReadRSS(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN")
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: "xrss"})
	var r rxq.RSSInfo
	var err error
	if e := lab.InRecv(func() error { r, err = rxq.ReadRSS(lab.RecvIf); return nil }); e != nil {
		t.Fatal(e)
	}
	if !errors.Is(err, rxq.ErrNotSupported) {
		t.Errorf("rxq.ReadRSS(veth) = %+v, %v; want ErrNotSupported", r, err)
	}
	t.Logf("veth: %v", err)
	if e := lab.InRecv(func() error { _, err = rxq.ReadRSS("xrssnosuch0"); return nil }); e != nil {
		t.Fatal(e)
	}
	if !errors.Is(err, rxq.ErrNoInterface) {
		t.Errorf("rxq.ReadRSS(unknown) = %v, want ErrNoInterface", err)
	}
}
