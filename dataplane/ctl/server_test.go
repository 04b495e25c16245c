package ctl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq/rss"
	"github.com/xdpmux/xdpmux/rxq/rxqtest"
)

// env is a dataplane over rxqtest sources with a control server on a
// socket in a temporary directory.
type env struct {
	t    testing.TB
	set  []*rxqtest.Source
	dp   *dataplane.Dataplane
	srv  *ctl.Server
	path string
	tz   *rss.Toeplitz
	next atomic.Uint32 // round-robin injection queue
}

// newEnv starts it all; configure, if not nil, sets Server fields before
// Serve.
func newEnv(t testing.TB, nq int, configure func(*ctl.Server)) *env {
	t.Helper()
	return newEnvAt(t, nq, filepath.Join(t.TempDir(), "ctl", "xdpmux.sock"), configure)
}

func newEnvAt(t testing.TB, nq int, path string, configure func(*ctl.Server)) *env {
	t.Helper()
	baseline := runtime.NumGoroutine()
	set, err := rxqtest.NewSet(nq, rxqtest.DefaultOptions())
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
	tz, err := rss.NewToeplitz(rss.DefaultKey[:])
	if err != nil {
		t.Fatal(err)
	}
	srv := ctl.NewServer(dp, func() any { return map[string]string{"iface": "test0"} })
	if configure != nil {
		configure(srv)
	}
	l, err := ctl.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	e := &env{t: t, set: set, dp: dp, srv: srv, path: path, tz: tz}
	t.Cleanup(func() {
		srv.Close()
		if err := <-serveErr; !errors.Is(err, ctl.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket file after Close: %v, want it gone", err)
		}
		if err := dp.Close(); err != nil {
			t.Error(err)
		}
		if err := dp.CheckFrames(); err != nil {
			t.Error(err)
		}
		for _, s := range set {
			s.Close()
		}
		waitGoroutines(t, baseline)
	})
	return e
}

// waitGoroutines fails if more goroutines than baseline remain after a
// grace period.
func waitGoroutines(t testing.TB, baseline int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines left, want <= %d:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inject puts a frame on the sources round-robin.
func (e *env) inject(frame []byte) {
	e.t.Helper()
	q := int(e.next.Add(1)) % len(e.set)
	for !e.set[q].Inject(frame) {
		time.Sleep(time.Millisecond) // all frames out: let the worker catch up
	}
}

// hashOf is the Toeplitz hash the worker computes for frame.
func (e *env) hashOf(frame []byte) uint32 {
	var tu packet.Tuple
	h, r := dataplane.ParseAndHash(e.tz, frame, &tu)
	if r != packet.OK {
		e.t.Fatalf("test frame does not parse: %v", r)
	}
	return h
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func listen(t testing.TB, path, spec string, opts ctl.Options) *ctl.Endpoint {
	t.Helper()
	ep, err := ctl.Listen(path, spec, opts)
	if err != nil {
		t.Fatalf("Listen(%s): %v", spec, err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep
}

// readN reads exactly n messages from ep, copying payloads.
func readN(t testing.TB, ep *ctl.Endpoint, n int) []ctl.Message {
	t.Helper()
	ep.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer ep.SetReadDeadline(time.Time{})
	var out []ctl.Message
	batch := make([]ctl.Message, 16)
	for len(out) < n {
		k, err := ep.ReadBatch(batch)
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d messages: %v", len(out), n, err)
		}
		for _, m := range batch[:k] {
			m.Payload = bytes.Clone(m.Payload)
			out = append(out, m)
		}
	}
	return out
}

var (
	local  = netip.MustParseAddrPort("198.18.0.2:5353")
	remote = netip.MustParseAddr("198.18.0.1")
)

func TestBindReceive(t *testing.T) {
	e := newEnv(t, 2, nil)
	ep := listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{})
	if ep.Queues() != 2 || ep.Name() == "" || ep.ID() == 0 {
		t.Errorf("Queues %d Name %q ID %d, want 2, a name, an ID", ep.Queues(), ep.Name(), ep.ID())
	}
	const n = 300
	want := map[string]ctl.Message{}
	for i := range n {
		src := netip.AddrPortFrom(remote, uint16(10000+i))
		payload := fmt.Appendf(nil, "payload %d %s", i, bytes.Repeat([]byte{'x'}, i))
		frame := packettest.UDP4(src, local, payload)
		want[string(payload)] = ctl.Message{Src: src, Dst: local, Proto: pcb.UDP, Hash: e.hashOf(frame), Payload: payload}
		e.inject(frame)
	}
	// A frame for another port is not ours.
	e.inject(packettest.UDP4(netip.AddrPortFrom(remote, 1), netip.AddrPortFrom(local.Addr(), 9), []byte("no")))
	got := readN(t, ep, n)
	queues := map[int]int{}
	for _, m := range got {
		w, ok := want[string(m.Payload)]
		if !ok {
			t.Fatalf("unexpected payload %q", m.Payload)
		}
		delete(want, string(m.Payload))
		queues[m.Queue]++
		if m.Src != w.Src || m.Dst != w.Dst || m.Proto != w.Proto || m.Hash != w.Hash {
			t.Errorf("got src %v dst %v proto %v hash %08x, want %v %v %v %08x", m.Src, m.Dst, m.Proto, m.Hash, w.Src, w.Dst, w.Proto, w.Hash)
		}
	}
	if len(queues) != 2 {
		t.Errorf("frames came from queues %v, want both", queues)
	}
	// ReadFrom: the net.PacketConn view.
	e.inject(packettest.UDP4(netip.AddrPortFrom(remote, 4242), local, []byte("hello")))
	ep.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 3)
	k, from, err := ep.ReadFrom(buf)
	if err != nil || string(buf[:k]) != "hel" || from.String() != "198.18.0.1:4242" {
		t.Errorf("ReadFrom = %d %q %v %v, want 3 \"hel\" 198.18.0.1:4242 nil", k, buf[:k], from, err)
	}
	if _, err := ep.WriteTo([]byte("x"), from); !errors.Is(err, dataplane.ErrNotSupported) {
		t.Errorf("WriteTo: %v, want ErrNotSupported", err)
	}
	// A read deadline expires and is not sticky.
	ep.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := ep.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadFrom past deadline: %v, want ErrDeadlineExceeded", err)
	}
	e.inject(packettest.UDP4(netip.AddrPortFrom(remote, 4243), local, []byte("again")))
	if got := readN(t, ep, 1); string(got[0].Payload) != "again" {
		t.Errorf("after a timeout got %q, want \"again\"", got[0].Payload)
	}
	// A worker publishes its counters after it has handed the batch to the
	// rings, so a reader may see a frame before Stats counts it.
	st := e.dp.Stats().Totals()
	for deadline := time.Now().Add(5 * time.Second); st.Delivered < n+2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		st = e.dp.Stats().Totals()
	}
	if st.Delivered != n+2 || st.Unmatched != 1 {
		t.Errorf("delivered %d unmatched %d, want %d 1", st.Delivered, st.Unmatched, n+2)
	}
}

func TestBindIPv6AndTCP(t *testing.T) {
	e := newEnv(t, 1, nil)
	l6 := netip.MustParseAddrPort("[2001:db8::2]:443")
	r6 := netip.MustParseAddrPort("[2001:db8::1]:5000")
	ep6 := listen(t, e.path, "udp/[::]:443", ctl.Options{})
	tcp := listen(t, e.path, "tcp/198.18.0.2:80", ctl.Options{})
	e.inject(packettest.UDP6(r6, l6, []byte("six")))
	e.inject(packettest.TCP4(netip.AddrPortFrom(remote, 7), netip.AddrPortFrom(local.Addr(), 80), []byte("tcp")))
	m := readN(t, ep6, 1)[0]
	if m.Src != r6 || m.Dst != l6 || string(m.Payload) != "six" || m.Proto != pcb.UDP {
		t.Errorf("v6: got %v %v %q %v", m.Src, m.Dst, m.Payload, m.Proto)
	}
	tcp.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 10)
	n, from, err := tcp.ReadFrom(buf)
	if _, ok := from.(*net.TCPAddr); err != nil || !ok || string(buf[:n]) != "tcp" {
		t.Errorf("tcp ReadFrom = %q %T %v", buf[:n], from, err)
	}
}

func TestGroupSplit(t *testing.T) {
	e := newEnv(t, 2, nil)
	a := listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{ReusePort: true})
	b := listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{ReusePort: true})
	// Without reuseport, nobody joins.
	if _, err := ctl.Listen(e.path, "udp/0.0.0.0:5353", ctl.Options{}); !errors.Is(err, pcb.ErrAddrInUse) {
		t.Errorf("plain bind over a group: %v, want ErrAddrInUse", err)
	}
	const n = 1000
	for i := range n {
		e.inject(packettest.UDP4(netip.AddrPortFrom(remote, uint16(1024+i)), local, fmt.Appendf(nil, "%d", i)))
	}
	var na, nb atomic.Int64
	seen := make([]atomic.Int32, n)
	var wg sync.WaitGroup
	for _, x := range []struct {
		ep  *ctl.Endpoint
		cnt *atomic.Int64
	}{{a, &na}, {b, &nb}} {
		wg.Go(func() {
			batch := make([]ctl.Message, 64)
			x.ep.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			for {
				k, err := x.ep.ReadBatch(batch)
				if err != nil {
					return // deadline: the other reader has the rest
				}
				x.ep.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				for _, m := range batch[:k] {
					var i int
					fmt.Sscan(string(m.Payload), &i)
					seen[i].Add(1)
				}
				x.cnt.Add(int64(k))
			}
		})
	}
	wg.Wait()
	if na.Load()+nb.Load() != n || na.Load() == 0 || nb.Load() == 0 {
		t.Errorf("split %d + %d, want both > 0 summing to %d", na.Load(), nb.Load(), n)
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("frame %d received %d times, want once", i, seen[i].Load())
		}
	}
	t.Logf("group of 2 split %d frames: %d / %d", n, na.Load(), nb.Load())
	snap, err := ctl.Stats(e.path)
	if err != nil {
		t.Fatal(err)
	}
	// The clients are a and b; the stats request's own connection is not
	// listed. Both endpoints show their reuseport flag.
	if len(snap.Endpoints) != 2 || len(snap.Clients) != 2 {
		t.Errorf("stats: %d endpoints, %d clients, want 2 and 2", len(snap.Endpoints), len(snap.Clients))
	}
	for _, es := range snap.Endpoints {
		if !es.ReusePort || es.DualStack {
			t.Errorf("endpoint %+v: want reuseport, not dual-stack", es)
		}
	}
}

func TestOtherOwnerCannotJoin(t *testing.T) {
	var calls atomic.Int32
	e := newEnv(t, 1, func(s *ctl.Server) {
		// Every connection is another user.
		s.OwnerFunc = func(uid uint32) pcb.Owner { return pcb.Owner(fmt.Sprintf("user%d", calls.Add(1))) }
	})
	a := listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{ReusePort: true})
	for _, spec := range []string{"udp/0.0.0.0:5353", "udp/198.18.0.2:5353"} {
		_, err := ctl.Listen(e.path, spec, ctl.Options{ReusePort: true})
		if !errors.Is(err, pcb.ErrAddrInUse) {
			t.Errorf("%s by another owner: %v, want ErrAddrInUse", spec, err)
		}
	}
	// a still gets everything.
	e.inject(packettest.UDP4(netip.AddrPortFrom(remote, 1), local, []byte("mine")))
	if m := readN(t, a, 1)[0]; string(m.Payload) != "mine" {
		t.Errorf("got %q, want \"mine\"", m.Payload)
	}
}

func TestBindErrors(t *testing.T) {
	e := newEnv(t, 1, nil)
	listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{})
	for _, tc := range []struct {
		spec string
		opts ctl.Options
		want error
	}{
		{"udp/0.0.0.0:5353", ctl.Options{}, pcb.ErrAddrInUse},
		{"udp/198.18.0.2:5353", ctl.Options{ReusePort: true}, pcb.ErrAddrInUse},
		{"udp/0.0.0.0:0", ctl.Options{}, pcb.ErrInvalidSpec},
		{"icmp/0.0.0.0:1", ctl.Options{}, pcb.ErrInvalidSpec},
		{"udp/1.2.3.4", ctl.Options{}, pcb.ErrInvalidSpec},
		{"udp/0.0.0.0:53", ctl.Options{DualStack: true}, pcb.ErrInvalidSpec}, // server-side validation
	} {
		_, err := ctl.Listen(e.path, tc.spec, tc.opts)
		if !errors.Is(err, tc.want) {
			t.Errorf("Listen(%q, %+v) = %v, want %v", tc.spec, tc.opts, err, tc.want)
		}
	}
	if _, err := ctl.Listen(filepath.Join(t.TempDir(), "nothing"), "udp/0.0.0.0:1", ctl.Options{}); err == nil {
		t.Error("Listen on a missing socket succeeded")
	}
}

// rawConn dials the server for hand-made messages.
func rawConn(t testing.TB, path string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func TestGarbageDisconnectsOnlyThatClient(t *testing.T) {
	e := newEnv(t, 1, nil)
	good := listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{})
	bind := append([]byte("XM\x01\x01\x00"), "udp/0.0.0.0:7000"...)
	for _, tc := range []struct {
		name string
		msgs [][]byte
	}{
		{"short", [][]byte{[]byte("XM")}},
		{"bad magic", [][]byte{[]byte("AB\x01\x02")}},
		{"bad version", [][]byte{[]byte("XM\x09\x02")}},
		{"unknown type", [][]byte{[]byte("XM\x01\x63")}},
		{"server type", [][]byte{[]byte("XM\x01\x82\x00\x00\x00\x00")}},
		{"stats with body", [][]byte{[]byte("XM\x01\x02junk")}},
		{"bind without spec", [][]byte{[]byte("XM\x01\x01\x00")}},
		{"bind bad flags", [][]byte{append([]byte("XM\x01\x01\x80"), "udp/0.0.0.0:7000"...)}},
		{"bind bad spec", [][]byte{append([]byte("XM\x01\x01\x00"), "udp/nonsense"...)}},
		{"too long", [][]byte{append([]byte("XM\x01\x02"), make([]byte, 4000)...)}},
		{"after bind", [][]byte{bind, []byte("XM\x01\x02")}},
		{"second bind", [][]byte{bind, bind}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawConn(t, e.path)
			for _, m := range tc.msgs {
				if _, err := c.Write(m); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, ctl.MaxMessage)
			var last []byte
			for {
				n, err := c.Read(buf)
				if err == io.EOF || n == 0 {
					break
				}
				if err != nil {
					t.Fatalf("read: %v (want an error message, then end of file)", err)
				}
				last = append(last[:0], buf[:n]...)
			}
			if len(last) < 5 || string(last[:4]) != "XM\x01\x84" {
				t.Fatalf("last message %q, want an error message", last)
			}
			if code := last[4]; code != ctl.CodeProtocol && code != ctl.CodeInvalidSpec {
				t.Errorf("error code %d (%s), want protocol or invalid spec", code, last[5:])
			}
			t.Logf("server said: %s", last[5:])
		})
	}
	// The good client was not disturbed, and port 7000 was freed.
	e.inject(packettest.UDP4(netip.AddrPortFrom(remote, 1), local, []byte("still here")))
	if m := readN(t, good, 1)[0]; string(m.Payload) != "still here" {
		t.Errorf("got %q", m.Payload)
	}
	waitFor(t, "garbage clients' endpoints closed", func() bool { return len(e.dp.Stats().Endpoints) == 1 })
}

func TestCloseClosesEndpoint(t *testing.T) {
	e := newEnv(t, 2, nil)
	a, err := ctl.Listen(e.path, "udp/0.0.0.0:5353", ctl.Options{ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	b := listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{ReusePort: true})
	if n := len(e.dp.Stats().Endpoints); n != 2 {
		t.Fatalf("%d endpoints, want 2", n)
	}
	a.Close()
	if _, err := a.ReadBatch(make([]ctl.Message, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadBatch after Close: %v, want net.ErrClosed", err)
	}
	waitFor(t, "a's endpoint closed", func() bool { return len(e.dp.Stats().Endpoints) == 1 })
	// All traffic now reaches b.
	for i := range 50 {
		e.inject(packettest.UDP4(netip.AddrPortFrom(remote, uint16(2000+i)), local, []byte("b")))
	}
	readN(t, b, 50)
	// The server shutting down disconnects b with a reason.
	e.srv.Close()
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := b.ReadBatch(make([]ctl.Message, 1)); !errors.Is(err, ctl.ErrDisconnected) {
		t.Errorf("ReadBatch after server Close: %v, want ErrDisconnected", err)
	}
}

func TestStatsRequest(t *testing.T) {
	e := newEnv(t, 2, nil)
	ep := listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{})
	for i := range 10 {
		e.inject(packettest.UDP4(netip.AddrPortFrom(remote, uint16(3000+i)), local, []byte("s")))
	}
	bad := packettest.UDP4(netip.AddrPortFrom(remote, 1), local, nil)
	e.inject(bad[:20]) // truncated
	readN(t, ep, 10)
	waitFor(t, "counters", func() bool { return e.dp.Stats().Totals().RX == 11 })
	// The pump counts a message as sent once its write returned, which
	// may be after the client read it.
	var snap ctl.StatsSnapshot
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var err error
		if snap, err = ctl.Stats(e.path); err != nil {
			t.Fatal(err)
		}
		if len(snap.Clients) != 1 || snap.Clients[0].Sent >= 10 || time.Now().After(deadline) {
			break
		}
	}
	if len(snap.Queues) != 2 || snap.Totals.RX != 11 || snap.Totals.Delivered != 10 ||
		snap.Totals.Malformed["truncated"] != 1 || snap.Totals.MalformedTotal() != 1 {
		t.Errorf("snapshot queues %d totals %+v", len(snap.Queues), snap.Totals)
	}
	if len(snap.Endpoints) != 1 || snap.Endpoints[0].Name != ep.Name() || snap.Endpoints[0].Delivered != 10 {
		t.Errorf("endpoints %+v, want %s with 10 delivered", snap.Endpoints, ep.Name())
	}
	// The only client is ep: the stats request's own connection is not
	// listed.
	if len(snap.Clients) != 1 || snap.Clients[0].Endpoint != ep.Name() || snap.Clients[0].UID != uint32(os.Getuid()) || snap.Clients[0].Sent != 10 ||
		snap.Clients[0].PID != int32(os.Getpid()) || snap.Clients[0].Dropped != 0 {
		t.Errorf("clients %+v, want only ep's with uid %d, pid %d, sent 10, dropped 0", snap.Clients, os.Getuid(), os.Getpid())
	}
	if es := snap.Endpoints[0]; es.ReusePort || es.DualStack {
		t.Errorf("endpoint %+v: want neither reuseport nor dual-stack", es)
	}
	var info map[string]string
	if err := json.Unmarshal(snap.Info, &info); err != nil || info["iface"] != "test0" {
		t.Errorf("info %s: %v", snap.Info, err)
	}
	if snap.Policy != "threshold" {
		t.Errorf("policy %q", snap.Policy)
	}
}

func TestStatsManyParts(t *testing.T) {
	e := newEnv(t, 1, nil)
	// Enough endpoints for a snapshot longer than one message.
	var eps []*dataplane.Endpoint
	for i := range 800 {
		ep, err := e.dp.Bind(pcb.Spec{Proto: pcb.UDP, Local: netip.AddrPortFrom(local.Addr(), uint16(20000+i)),
			Owner: "t", Name: fmt.Sprintf("a-rather-long-endpoint-name-to-fill-the-message-%d", i)}, dataplane.EndpointOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
	}
	defer func() {
		for _, ep := range eps {
			ep.Close()
		}
	}()
	snap, err := ctl.Stats(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Endpoints) != 800 {
		t.Errorf("%d endpoints, want 800", len(snap.Endpoints))
	}
	if doc, _ := json.Marshal(snap); len(doc) <= ctl.MaxMessage {
		t.Errorf("snapshot of %d bytes fits in one message: test does not test parts", len(doc))
	}
}

func TestListenUnix(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "xdpmux")
	path := filepath.Join(dir, "x.sock")
	l, err := ctl.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o666 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, %v: want 0666 socket", fi.Mode(), err)
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o755 {
		t.Errorf("dir mode %v, %v: want 0755", di.Mode(), err)
	}
	// Somebody serves it: refuse.
	if _, err := ctl.ListenUnix(path); err == nil {
		t.Error("second ListenUnix on a live socket succeeded")
	}
	// A stale socket file (its listener gone without unlinking) is replaced.
	l.SetUnlinkOnClose(false)
	l.Close()
	l2, err := ctl.ListenUnix(path)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	l2.Close()
	// Not a socket: refuse.
	os.WriteFile(path, nil, 0o644)
	if _, err := ctl.ListenUnix(path); err == nil {
		t.Error("ListenUnix over a regular file succeeded")
	}
}

// BenchmarkThroughput measures frames per second from injection to a
// control-socket client (copy out of the UMEM, one message per batch,
// decode), 64-byte payloads, one queue. The injector stays at most 512
// frames ahead of the client, so no ring overflows.
func BenchmarkThroughput(b *testing.B) {
	e := newEnv(b, 1, nil)
	ep := listen(b, e.path, "udp/0.0.0.0:5353", ctl.Options{})
	frame := packettest.UDP4(netip.AddrPortFrom(remote, 1000), local, make([]byte, 64))
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		batch := make([]ctl.Message, 64)
		for got.Load() < int64(b.N) {
			n, err := ep.ReadBatch(batch)
			if err != nil {
				return
			}
			got.Add(int64(n))
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for int64(i)-got.Load() > 512 || !e.set[0].Inject(frame) {
			runtime.Gosched()
		}
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(got.Load())/b.Elapsed().Seconds(), "pps")
}

func TestStatsEndpointFlags(t *testing.T) {
	e := newEnv(t, 1, nil)
	for _, sp := range []pcb.Spec{
		{Proto: pcb.UDP, Local: netip.MustParseAddrPort("0.0.0.0:7001"), ReusePort: true, Owner: "t", Name: "inproc-reuse"},
		{Proto: pcb.UDP, Local: netip.MustParseAddrPort("[::]:7002"), DualStack: true, Owner: "t", Name: "inproc-dual"},
	} {
		ep, err := e.dp.Bind(sp, dataplane.EndpointOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer ep.Close()
	}
	a := listen(t, e.path, "udp/[::]:7004", ctl.Options{ReusePort: true, DualStack: true})
	b := listen(t, e.path, "tcp/0.0.0.0:7005", ctl.Options{})
	snap, err := ctl.Stats(e.path)
	if err != nil {
		t.Fatal(err)
	}
	type flags struct{ reuse, dual bool }
	want := map[string]flags{
		"inproc-reuse": {true, false},
		"inproc-dual":  {false, true},
		a.Name():       {true, true},
		b.Name():       {false, false},
	}
	if len(snap.Endpoints) != len(want) {
		t.Fatalf("%d endpoints, want %d", len(snap.Endpoints), len(want))
	}
	for _, es := range snap.Endpoints {
		if got := (flags{es.ReusePort, es.DualStack}); got != want[es.Name] {
			t.Errorf("endpoint %s: reuseport, dual_stack = %v, want %v", es.Name, got, want[es.Name])
		}
	}
	// The JSON names, which external tests read.
	doc, err := json.Marshal(snap.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"id"`, `"name"`, `"spec"`, `"delivered"`, `"dropped"`, `"over_budget"`, `"queued"`, `"reuseport"`, `"dual_stack"`} {
		if !bytes.Contains(doc, []byte(key)) {
			t.Errorf("endpoint JSON %s lacks %s", doc, key)
		}
	}
	doc, err = json.Marshal(snap.Clients[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"id"`, `"pid"`, `"uid"`, `"endpoint"`, `"sent"`, `"dropped"`} {
		if !bytes.Contains(doc, []byte(key)) {
			t.Errorf("client JSON %s lacks %s", doc, key)
		}
	}
}
