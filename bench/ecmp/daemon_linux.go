//go:build linux

package ecmp

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

func ip(args ...string) error { return run("ip", args...) }

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// daemon is a child process (bird or xdpmux run), killed if the test
// process dies.
type daemon struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // of Wait, once done is closed
}

func startDaemon(logPath string, name string, args ...string) (*daemon, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	d := &daemon{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// waitReady polls ready until it succeeds, the process exits or timeout.
func (d *daemon) waitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("exited (%v) before it was ready: %s", d.err, d.tail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w; log: %s", timeout, err, d.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail returns the end of the daemon's log.
func (d *daemon) tail() string {
	b, _ := os.ReadFile(d.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// stop sends SIGTERM, waits up to 10 s, then kills. A nil daemon is a
// no-op. Exit by SIGTERM is not an error.
func (d *daemon) stop() error {
	if d == nil {
		return nil
	}
	select {
	case <-d.done:
		return fmt.Errorf("%s had exited: %v: %s", d.cmd.Path, d.err, d.tail())
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("%s did not stop on SIGTERM within 10s: %s", d.cmd.Path, d.tail())
	}
	var ee *exec.ExitError
	if d.err != nil && !(errors.As(d.err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM) {
		return fmt.Errorf("%s: %v: %s", d.cmd.Path, d.err, d.tail())
	}
	return nil
}
