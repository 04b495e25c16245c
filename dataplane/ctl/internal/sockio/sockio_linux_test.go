package sockio

import (
	"errors"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func pair(t *testing.T) (a, b *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err = net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	b, err = l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestSendNoWait(t *testing.T) {
	a, b := pair(t)
	msg := make([]byte, 60000)
	msg[0] = 7
	// A reader that never reads: the buffer fills, then SendNoWait fails
	// fast instead of blocking.
	start := time.Now()
	sent := 0
	var err error
	for range 10000 {
		if err = SendNoWait(b, msg); err != nil {
			break
		}
		sent++
	}
	if !errors.Is(err, ErrWouldBlock) || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("after %d messages: %v, want ErrWouldBlock", sent, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("filling the buffer took %v: SendNoWait waited", d)
	}
	if sent == 0 {
		t.Fatal("not even one message fit")
	}
	// Every message that was sent arrives whole.
	buf := make([]byte, 65536)
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range sent {
		n, err := a.Read(buf)
		if err != nil || n != len(msg) || buf[0] != 7 {
			t.Fatalf("message %d: %d bytes, %v", i, n, err)
		}
	}
	// Room again.
	if err := SendNoWait(b, msg); err != nil {
		t.Errorf("after draining: %v", err)
	}
	// The peer gone: an error that is not ErrWouldBlock.
	a.Close()
	if err := SendNoWait(b, msg); err == nil || errors.Is(err, ErrWouldBlock) {
		t.Errorf("to a closed peer: %v, want EPIPE or the like", err)
	}
	b.Close()
	if err := SendNoWait(b, msg); !errors.Is(err, net.ErrClosed) {
		t.Errorf("on a closed conn: %v, want net.ErrClosed", err)
	}
}
