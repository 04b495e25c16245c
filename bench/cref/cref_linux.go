package cref

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/bench/internal/stderrbuf"
)

// Build writes Source into dir and compiles it with cc (or $CC); it
// returns the binary's path. A missing compiler, header or library is
// ErrNoLibxdp, with the compiler's first line of complaint.
func Build(dir string) (string, error) {
	src := filepath.Join(dir, "rxdrop.c")
	bin := filepath.Join(dir, "xdpmux-cref")
	if err := os.WriteFile(src, Source, 0o600); err != nil {
		return "", fmt.Errorf("cref: %w", err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoLibxdp, err)
	}
	out, err := exec.Command(cc, "-O2", "-Wall", "-o", bin, src, "-lxdp", "-lbpf", "-lpthread").CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "xsk.h") || strings.Contains(msg, "libbpf.h") ||
			strings.Contains(msg, "-lxdp") || strings.Contains(msg, "-lbpf") {
			first, _, _ := strings.Cut(msg, "\n")
			return "", fmt.Errorf("%w: %s", ErrNoLibxdp, first)
		}
		return "", fmt.Errorf("cref: %s: %v: %s", cc, err, msg)
	}
	return bin, nil
}

// Proc is a running reference receiver. Not safe for concurrent use.
type Proc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *stderrbuf.Buffer
	queues int
	done   chan error
}

// startTimeout bounds the wait for "ready".
const startTimeout = 10 * time.Second

// Start runs bin on ifname's queues 0..queues-1 with frames UMEM frames
// per queue, in the named network namespace (empty: the current one), and
// returns once every socket is bound.
func Start(bin, netns, ifname string, queues, frames int) (*Proc, error) {
	args := []string{bin, ifname, fmt.Sprint(queues), fmt.Sprint(frames)}
	if netns != "" {
		args = append([]string{"ip", "netns", "exec", netns}, args...)
	}
	p := &Proc{cmd: exec.Command(args[0], args[1:]...), stderr: &stderrbuf.Buffer{}, queues: queues, done: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("cref: %w", err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("cref: %w", err)
	}
	p.out = bufio.NewReader(stdout)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cref: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := p.out.ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("%w: %q instead of ready", ErrProtocol, line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(startTimeout):
		err = errors.New("no ready line in " + startTimeout.String())
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("cref: start: %w: %s", err, p.stderr.String()), p.Close())
	}
	return p, nil
}

// Counters asks the program for its cumulative counters.
func (p *Proc) Counters() (Counters, error) {
	if _, err := io.WriteString(p.in, "\n"); err != nil {
		return Counters{}, fmt.Errorf("cref: %w: %s", err, p.stderr.String())
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return Counters{}, fmt.Errorf("cref: read counters: %w: %s", err, p.stderr.String())
	}
	return ParseCounters(line, p.queues)
}

// Close stops the program (EOF on its stdin) and waits for it; after 5 s it
// is killed. An exit status other than 0 is an error.
func (p *Proc) Close() error {
	if p.cmd.Process == nil {
		return nil
	}
	p.in.Close()
	go func() { p.done <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		err = <-p.done
	}
	p.cmd.Process = nil
	if err != nil {
		return fmt.Errorf("cref: %w: %s", err, p.stderr.String())
	}
	return nil
}
