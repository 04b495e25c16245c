package latency

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/bench/internal/stderrbuf"
	"github.com/xdpmux/xdpmux/bench/netlab"
)

// ServeEnv names the environment variable that makes the benchmark's
// binary (or test binary) a server child: SYSTEM,MEMBERS,PORT,NETNS,IFNAME.
// The harness sets it when it re-executes itself; ServeChild reads it.
const ServeEnv = "XDPMUX_LATENCY_SERVE"

// childStop bounds how long a child may take to stop its server once its
// stdin is closed before it is killed.
const childStop = 10 * time.Second

// childReady bounds how long a child may take to start its server.
const childReady = 30 * time.Second

// ServeChild runs the server child and exits if ServeEnv is set, and
// returns at once otherwise. Call it first in main (and in TestMain of
// tests that call Measure): the harness starts each system's server in a
// child process of its own binary, so that the server never shares a Go
// scheduler with the clients, as a real server never shares one with its
// load generator.
//
// The child starts the server in the lab's receiving namespace, prints
// "ready RCVBUF MODE" on stdout and serves until its stdin is closed; it
// then stops the server and exits 0, or exits 1 with one line on stderr.
func ServeChild() {
	spec, ok := os.LookupEnv(ServeEnv)
	if !ok {
		return
	}
	if err := serveChild(spec, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "xdpmux-latency server:", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
	os.Exit(0)
}

type childSpec struct {
	system  string
	members int
	port    uint16
	netns   string
	ifname  string
}

func (c childSpec) String() string {
	return fmt.Sprintf("%s,%d,%d,%s,%s", c.system, c.members, c.port, c.netns, c.ifname)
}

func parseChildSpec(s string) (childSpec, error) {
	f := strings.Split(s, ",")
	if len(f) != 5 {
		return childSpec{}, fmt.Errorf("%s=%q: want SYSTEM,MEMBERS,PORT,NETNS,IFNAME", ServeEnv, s)
	}
	c := childSpec{system: f[0], netns: f[3], ifname: f[4]}
	switch c.system {
	case SystemEndpoint, SystemHandler, SystemPacketConn, SystemKernel:
	default:
		return c, fmt.Errorf("%s: unknown system %q", ServeEnv, c.system)
	}
	m, err := strconv.Atoi(f[1])
	if err != nil || m < 1 || m > 64 {
		return c, fmt.Errorf("%s: members %q: want 1-64", ServeEnv, f[1])
	}
	p, err := strconv.ParseUint(f[2], 10, 16)
	if err != nil || p == 0 {
		return c, fmt.Errorf("%s: port %q: want 1-65535", ServeEnv, f[2])
	}
	if c.netns == "" || c.ifname == "" {
		return c, fmt.Errorf("%s=%q: empty namespace or interface", ServeEnv, s)
	}
	c.members, c.port = m, uint16(p)
	return c, nil
}

// startServer starts spec's server in the lab l (only its receiving
// namespace and interface are used): the server, the kernel sockets'
// SO_RCVBUF (kernel) and the AF_XDP socket mode (xdpmux).
func startServer(l *netlab.Lab, system string, members int, port uint16) (server, int, string, error) {
	if system == SystemKernel {
		k, rcvbuf, err := startKernel(l, members, port)
		if err != nil {
			return nil, 0, "", err
		}
		return k, rcvbuf, "", nil
	}
	x, err := startXDPMux(l, system, members, port)
	if err != nil {
		return nil, 0, "", err
	}
	return x, 0, x.ifc.Info().SocketMode, nil
}

func serveChild(specStr string, stdin io.Reader, stdout io.Writer) error {
	spec, err := parseChildSpec(specStr)
	if err != nil {
		return err
	}
	l := &netlab.Lab{RecvNS: spec.netns, RecvIf: spec.ifname}
	srv, rcvbuf, mode, err := startServer(l, spec.system, spec.members, spec.port)
	if err != nil {
		return fmt.Errorf("start %s: %w", spec.system, err)
	}
	if mode == "" {
		mode = "-"
	}
	_, werr := fmt.Fprintf(stdout, "ready %d %s\n", rcvbuf, mode)
	if werr == nil {
		// Serve until the parent closes stdin (or dies).
		_, _ = io.Copy(io.Discard, stdin)
	}
	return errors.Join(werr, srv.close())
}

// child is a server child process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *stderrbuf.Buffer
	done   chan error
}

// startChild re-executes this binary as spec's server and waits for its
// ready line. On error nothing is left running.
func startChild(spec childSpec) (c *child, rcvbuf int, mode string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, 0, "", fmt.Errorf("server process: %w", err)
	}
	c = &child{cmd: exec.Command(exe), stderr: &stderrbuf.Buffer{}, done: make(chan error, 1)}
	c.cmd.Env = append(os.Environ(), ServeEnv+"="+spec.String())
	c.cmd.Stderr = c.stderr
	// If this process dies, the child's stdin closes and it stops; the
	// signal is a second line of defence.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, 0, "", fmt.Errorf("server process: %w", err)
	}
	ready := &lineWriter{line: make(chan string, 1)}
	c.cmd.Stdout = ready
	if err := c.cmd.Start(); err != nil {
		return nil, 0, "", fmt.Errorf("server process: %w", err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	var s string
	select {
	case s = <-ready.line:
	case err := <-c.done:
		c.done <- err // for stop
	case <-time.After(childReady):
	}
	var m string
	if n, _ := fmt.Sscanf(s, "ready %d %s", &rcvbuf, &m); n != 2 {
		err := c.stop()
		return nil, 0, "", fmt.Errorf("server process: no ready line (got %q): %w", strings.TrimSpace(s), err)
	}
	if m == "-" {
		m = ""
	}
	return c, rcvbuf, m, nil
}

// stop closes the child's stdin, waits for it to stop its server and exit
// (killing it after childStop) and returns its error with its stderr.
func (c *child) stop() error {
	c.stdin.Close()
	var err error
	select {
	case err = <-c.done:
	case <-time.After(childStop):
		_ = c.cmd.Process.Kill()
		err = errors.Join(fmt.Errorf("did not stop in %v: killed", childStop), <-c.done)
	}
	if err != nil {
		if msg := c.stderr.String(); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
	}
	return err
}

// lineWriter sends the first line written to it on line and discards the
// rest.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	line chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
		w.line <- string(w.buf[:i])
		w.sent = true
	} else if len(w.buf) > 4096 {
		w.line <- string(w.buf)
		w.sent = true
	}
	return len(p), nil
}

// close stops the child; it makes *child a server.
func (c *child) close() error { return c.stop() }
