package ctl_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/ctl"
	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
	"github.com/xdpmux/xdpmux/pcb"
)

// readError reads from c until it gets an Error message and end of file,
// and returns the Error's code and text; code 0 if the server closed c
// without one.
func readError(t testing.TB, c *net.UnixConn) (byte, string) {
	t.Helper()
	buf := make([]byte, ctl.MaxMessage)
	var code byte
	var text string
	for {
		n, err := c.Read(buf)
		if err == io.EOF || n == 0 {
			return code, text
		}
		if err != nil {
			t.Fatalf("read: %v (want an error message, then end of file)", err)
		}
		if n >= 5 && string(buf[:4]) == "XM\x01\x84" {
			code, text = buf[4], string(buf[5:n])
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, 1, func(s *ctl.Server) { s.Limits.IdleTimeout = 300 * time.Millisecond })
	// A connection that sends nothing is closed after the timeout.
	idle := rawConn(t, e.path)
	start := time.Now()
	code, text := readError(t, idle)
	if d := time.Since(start); code != ctl.CodeLimit || !strings.Contains(text, "idle_timeout") || d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("idle connection: code %d %q after %v, want CodeLimit naming idle_timeout after about 300ms", code, text, d)
	}
	// One that keeps asking for stats (as stats -watch would) stays: each
	// request restarts the timer.
	poll, err := ctl.DialStats(e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer poll.Close()
	for i := range 8 {
		if _, err := poll.Stats(); err != nil {
			t.Fatalf("stats request %d on one connection: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A bound connection sends nothing, and stays.
	ep := listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{})
	time.Sleep(500 * time.Millisecond)
	e.inject(packettest.UDP4(netip.AddrPortFrom(remote, 1), local, []byte("after")))
	if m := readN(t, ep, 1)[0]; string(m.Payload) != "after" {
		t.Errorf("bound client after the idle timeout: got %q", m.Payload)
	}
}

// errListener fails its first len(errs) accepts with errs, then accepts
// from l.
type errListener struct {
	l    *net.UnixListener
	mu   sync.Mutex
	errs []error
}

func (f *errListener) AcceptUnix() (*net.UnixConn, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	return f.l.AcceptUnix()
}

func (f *errListener) Close() error { return f.l.Close() }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestServeSurvivesAcceptErrors(t *testing.T) {
	e := newEnv(t, 1, nil)
	op := func(err error) error {
		return &net.OpError{Op: "accept", Net: "unixpacket", Err: os.NewSyscallError("accept4", err)}
	}
	for _, tc := range []struct {
		name string
		errs []error
	}{
		{"EMFILE", []error{op(syscall.EMFILE), op(syscall.EMFILE), op(syscall.EMFILE)}},
		{"ENFILE", []error{op(syscall.ENFILE)}},
		{"ENOMEM", []error{op(syscall.ENOMEM), op(syscall.ENOBUFS)}},
		{"ECONNABORTED", []error{op(syscall.ECONNABORTED)}},
		{"EPROTO and EPERM", []error{op(syscall.EPROTO), op(syscall.EPERM)}},
		{"timeout", []error{op(timeoutErr{})}},
		{"unknown", []error{errors.New("something else"), errors.New("and again")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.sock")
			l, err := ctl.ListenUnix(path)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			var logMu sync.Mutex
			srv := ctl.NewServer(e.dp, nil)
			srv.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
			done := make(chan error, 1)
			go func() { done <- srv.ServeAcceptor(&errListener{l: l, errs: tc.errs}) }()
			start := time.Now()
			if _, err := ctl.Stats(path); err != nil {
				t.Fatalf("stats after %d accept errors: %v", len(tc.errs), err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("stats took %v: backoff too long", d)
			}
			select {
			case err := <-done:
				t.Fatalf("Serve returned %v while the listener is open", err)
			default:
			}
			srv.Close()
			if err := <-done; !errors.Is(err, ctl.ErrServerClosed) {
				t.Errorf("Serve after Close: %v, want ErrServerClosed", err)
			}
			logMu.Lock()
			if n := strings.Count(logs.String(), "control socket accept"); n != len(tc.errs) {
				t.Errorf("%d accept errors logged, want %d:\n%s", n, len(tc.errs), logs.String())
			}
			logMu.Unlock()
		})
	}
	// A listener closed by someone else ends Serve, with net.ErrClosed.
	l, err := ctl.ListenUnix(filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := ctl.NewServer(e.dp, nil)
	defer srv.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	time.Sleep(20 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve on a closed listener: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve goes on after its listener was closed")
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestCloseStuckClients: 50 bound clients that never read, their socket
// buffers full; Close must not wait for them one by one.
func TestCloseStuckClients(t *testing.T) {
	// No per-uid limits: run as a user other than root, the test's 50
	// clients would otherwise meet them.
	e := newEnv(t, 2, func(s *ctl.Server) { s.Limits = ctl.Limits{} })
	const nclients, perClient = 50, 200
	var eps []*ctl.Endpoint
	for i := range nclients {
		eps = append(eps, listen(t, e.path, fmt.Sprintf("udp/0.0.0.0:%d", 10000+i), ctl.Options{}))
	}
	payload := bytes.Repeat([]byte("x"), 1400)
	for j := range perClient {
		for i := range nclients {
			e.inject(packettest.UDP4(netip.AddrPortFrom(remote, uint16(1000+j)), netip.AddrPortFrom(local.Addr(), uint16(10000+i)), payload))
		}
	}
	// Every frame reached its endpoint (on its rings, or dropped over its
	// budget), and the pumps are stuck: their clients do not read.
	waitFor(t, "every frame at its endpoint, the pumps stuck", func() bool {
		for _, es := range e.dp.Stats().Endpoints {
			if es.Delivered+es.Dropped != perClient {
				return false
			}
		}
		for _, ci := range e.srv.Clients() {
			if ci.Sent+ci.Dropped == perClient {
				return false
			}
		}
		return true
	})
	snap, err := ctl.Stats(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Clients) != nclients {
		t.Errorf("stats: %d clients, want %d", len(snap.Clients), nclients)
	}
	start := time.Now()
	e.srv.Close()
	if d := time.Since(start); d > 700*time.Millisecond { // one client at a time took 5 s
		t.Errorf("Close with %d stuck clients took %v, want well under a second", nclients, d)
	} else {
		t.Logf("Close with %d stuck clients took %v", nclients, d)
	}
	for _, ep := range eps {
		ep.Close()
	}
}

// TestLogsBounded: stats-only connections log nothing at Info, a bind
// does, and a flood of refusals is cut to the log budget.
func TestLogsBounded(t *testing.T) {
	var (
		buf bytes.Buffer
		mu  sync.Mutex
	)
	e := newEnv(t, 1, func(s *ctl.Server) {
		s.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelInfo}))
		s.Limits.LogPerSecond = 5
	})
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(buf.String(), "\n")
	}
	for range 20 {
		if _, err := ctl.Stats(e.path); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 0 {
		t.Errorf("20 stats requests logged %d records at Info, want 0:\n%s", n, buf.String())
	}
	time.Sleep(1100 * time.Millisecond) // a new log window
	listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{})
	waitFor(t, "a record of the bind", func() bool { // logged after the answer
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(buf.String(), "control client bound")
	})
	time.Sleep(1100 * time.Millisecond) // a new log window
	base := count()
	start := time.Now()
	for range 200 {
		c := rawConn(t, e.path)
		c.Write([]byte("garbage"))
		readError(t, c)
		c.Close()
	}
	if time.Since(start) < 900*time.Millisecond {
		if n := count() - base; n > 5 {
			t.Errorf("%d records within a second, want at most 5", n)
		}
	}
	if n := count() - base; n > 5*int(time.Since(start)/time.Second+2) {
		t.Errorf("%d records in %v, want at most 5 a second", n, time.Since(start))
	}
}

// TestErrorCodesRoundTrip: the codes a real server sends map back to the
// sentinels and errnos a socket would give.
func TestErrorCodesRoundTrip(t *testing.T) {
	e := newEnv(t, 1, nil)
	listen(t, e.path, "udp/0.0.0.0:5353", ctl.Options{})
	_, err := ctl.Listen(e.path, "udp/0.0.0.0:5353", ctl.Options{})
	for _, want := range []error{pcb.ErrAddrInUse, syscall.EADDRINUSE} {
		if !errors.Is(err, want) {
			t.Errorf("bind of a taken port: %v, want it to match %v", err, want)
		}
	}
	for _, notWant := range []error{syscall.EACCES, syscall.EADDRNOTAVAIL, ctl.ErrLimit} {
		if errors.Is(err, notWant) {
			t.Errorf("bind of a taken port: %v matches %v", err, notWant)
		}
	}
	// CodeLimit from a real server: the idle timeout.
	srv2 := newEnv(t, 1, func(s *ctl.Server) { s.Limits.IdleTimeout = 50 * time.Millisecond })
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: srv2.path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(200 * time.Millisecond)
	if _, err := ctl.Stats(srv2.path); err != nil {
		t.Fatal(err)
	}
	if code, _ := readError(t, c); code != ctl.CodeLimit {
		t.Errorf("idle connection: code %d, want CodeLimit", code)
	}
}
