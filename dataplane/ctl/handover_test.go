package ctl_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// instance is one "xdpmux run" of the hand-over test: a dataplane over
// in-memory sources and a control server.
type instance struct {
	set []*rxqtest.Source
	dp  *dataplane.Dataplane
	srv *ctl.Server
}

func newInstance(t *testing.T) *instance {
	t.Helper()
	set, err := rxqtest.NewSet(2, rxqtest.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dp, err := dataplane.New(dataplane.Config{Sources: rxqtest.Sources(set)})
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{set: set, dp: dp, srv: ctl.NewServer(dp, nil)}
	t.Cleanup(func() {
		in.srv.Close()
		if err := dp.Close(); err != nil {
			t.Error(err)
		}
		if err := dp.CheckFrames(); err != nil {
			t.Error(err)
		}
		for _, s := range set {
			s.Close()
		}
	})
	return in
}

func (in *instance) inject(t *testing.T, i int, frame []byte) {
	t.Helper()
	for !in.set[i%len(in.set)].Inject(frame) {
		time.Sleep(time.Millisecond)
	}
}

// readCount reads n frames from ep, failing after 10 s.
func readCount(t *testing.T, ep *ctl.Endpoint, n int) {
	t.Helper()
	ep.SetReadDeadline(time.Now().Add(10 * time.Second))
	msgs := make([]ctl.Message, 64)
	for got := 0; got < n; {
		k, err := ep.ReadBatch(msgs[:min(len(msgs), n-got)])
		if err != nil {
			t.Fatalf("read after %d of %d frames: %v", got, n, err)
		}
		got += k
	}
}

// TestTakeoverReconnect hands a control socket from one server to another
// as xdpmux run -takeover does: the listening socket moves, the client's
// endpoint is parked in the new server, which queues its frames while the
// client reconnects (Options.Reconnect) and takes it over; nothing is lost
// and the socket file stays.
func TestTakeoverReconnect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xdpmux.sock")
	a, b := newInstance(t), newInstance(t)
	l, err := ctl.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	serveA := make(chan error, 1)
	go func() { serveA <- a.srv.Serve(l) }()

	const spec = "udp/198.18.0.1:7000"
	local := netip.MustParseAddrPort("198.18.0.1:7000")
	ep, err := ctl.Listen(path, spec, ctl.Options{ReusePort: true, Reconnect: true, ReconnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	frame := func(i int) []byte {
		return packettest.UDP4(netip.AddrPortFrom(netip.MustParseAddr("198.18.1.1"), uint16(1024+i)), local, fmt.Appendf(nil, "%d", i))
	}
	for i := range 100 {
		a.inject(t, i, frame(i))
	}
	readCount(t, ep, 100)

	// The old server stops accepting and lists its endpoints; the new one
	// parks them and takes frames for them before the client is back.
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	a.srv.StopAccepting()
	if err := <-serveA; !errors.Is(err, ctl.ErrServerClosed) {
		t.Fatalf("old Serve returned %v, want ErrServerClosed", err)
	}
	eps := a.srv.HandoverEndpoints()
	if len(eps) != 1 || eps[0].UID != uint32(os.Getuid()) || eps[0].Local != local || !eps[0].ReusePort {
		t.Fatalf("HandoverEndpoints = %+v, want the one udp/%s reuseport endpoint of uid %d", eps, local, os.Getuid())
	}
	if errs := b.srv.Park(eps, 10*time.Second); len(errs) != 0 {
		t.Fatal(errs)
	}
	if n := b.srv.Parked(); n != 1 {
		t.Fatalf("Parked() = %d, want 1", n)
	}
	for i := 100; i < 300; i++ {
		b.inject(t, i, frame(i))
	}
	fl, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	serveB := make(chan error, 1)
	go func() { serveB <- b.srv.Serve(fl.(*net.UnixListener)) }()
	if err := a.srv.CloseHandover(); err != nil {
		t.Fatal(err)
	}
	readCount(t, ep, 200) // queued in the parked endpoint
	if got := ep.Reconnects(); got != 1 {
		t.Errorf("Reconnects() = %d, want 1", got)
	}
	if n := b.srv.Parked(); n != 0 {
		t.Errorf("Parked() after the reconnect = %d, want 0", n)
	}
	for i := 300; i < 400; i++ {
		b.inject(t, i, frame(i))
	}
	readCount(t, ep, 100)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("socket file after the old server closed: %v, want it kept", err)
	}
	st := b.dp.Stats()
	var drops uint64
	for _, e := range st.Endpoints {
		drops += e.Dropped
	}
	if drops != 0 {
		t.Errorf("new dataplane dropped %d frames, want 0", drops)
	}
	ep.Close()
	b.srv.Close()
	<-serveB
}

// TestParkExpires checks that a parked endpoint nobody takes is closed
// after its TTL and gives its uid's counts back.
func TestParkExpires(t *testing.T) {
	b := newInstance(t)
	local := netip.MustParseAddrPort("198.18.0.1:7001")
	errs := b.srv.Park([]ctl.HandoverEndpoint{{UID: 1000, Proto: 17, Local: local, Name: "udp/198.18.0.1:7001#c1"}}, 50*time.Millisecond)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if n := len(b.dp.Stats().Endpoints); n != 1 {
		t.Fatalf("%d endpoints after Park, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.srv.Parked() != 0 || len(b.dp.Stats().Endpoints) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("parked endpoint still there after its TTL: Parked() = %d, endpoints %d", b.srv.Parked(), len(b.dp.Stats().Endpoints))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
