package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/qlog"

	"github.com/xdpmux/xdpmux/bench/netlab"
)

// rebindConn is the client's UDP socket behind a NAT that rebinds: Rebind
// moves it to a new local port (a new socket), as a NAT mapping change
// looks to the server. quic-go sees one net.PacketConn and does not know.
// The last sockets stay open and read, since the server answers the old
// address until it has validated the new one.
type rebindConn struct {
	open func() (*net.UDPConn, error)
	in   chan datagram
	done chan struct{}

	// record, if set, is called with each datagram sent and its source
	// port (for TestWriteCapture).
	record func(port int, p []byte)

	mu       sync.Mutex
	socks    []*net.UDPConn // the current one last
	deadline time.Time
	poke     chan struct{}
	closed   bool
}

type datagram struct {
	b    []byte
	from net.Addr
}

func newRebindConn(open func() (*net.UDPConn, error)) (*rebindConn, error) {
	c := &rebindConn{open: open, in: make(chan datagram, 256), done: make(chan struct{}), poke: make(chan struct{}, 1)}
	return c, c.Rebind()
}

// Rebind moves the conn to a new socket (a new source port).
func (c *rebindConn) Rebind() error {
	s, err := c.open()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.Close()
		return net.ErrClosed
	}
	c.socks = append(c.socks, s)
	if len(c.socks) > 3 {
		c.socks[0].Close()
		c.socks = c.socks[1:]
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := s.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case c.in <- datagram{append([]byte(nil), buf[:n]...), from}:
			case <-c.done:
				return
			}
		}
	}()
	return nil
}

// Port returns the current source port.
func (c *rebindConn) Port() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.socks[len(c.socks)-1].LocalAddr().(*net.UDPAddr).Port
}

func (c *rebindConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		dl := c.deadline
		c.mu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case d := <-c.in:
			return copy(p, d.b), d.from, nil
		case <-c.done:
			return 0, nil, net.ErrClosed
		case <-timeout:
		case <-c.poke:
		}
	}
}

func (c *rebindConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	s := c.socks[len(c.socks)-1]
	record := c.record
	if record != nil {
		record(s.LocalAddr().(*net.UDPAddr).Port, p)
	}
	c.mu.Unlock()
	return s.WriteTo(p, addr)
}

func (c *rebindConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.done)
		for _, s := range c.socks {
			s.Close()
		}
	}
	return nil
}

func (c *rebindConn) LocalAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.socks[len(c.socks)-1].LocalAddr()
}

func (c *rebindConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *rebindConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	select {
	case c.poke <- struct{}{}:
	default:
	}
	return nil
}

func (c *rebindConn) SetWriteDeadline(time.Time) error { return nil }

// errRedial is what a client's second dial returns: a test connection is
// one QUIC connection, never silently replaced.
var errRedial = errors.New("test client: connection lost, no redial")

// h3client is an HTTP/3 client of one QUIC connection, from the lab's
// sending namespace, over a rebindConn.
type h3client struct {
	conn *rebindConn
	tr   *quic.Transport
	h3   *http3.Transport
	http *http.Client
	url  string
}

func newH3Client(lab *netlab.Lab, server string, record func(port int, p []byte)) (*h3client, error) {
	src := lab.SendAddr
	if ap, err := netip.ParseAddrPort(server); err == nil && ap.Addr().Is6() {
		src = lab.SendAddr6
	}
	open := func() (s *net.UDPConn, err error) {
		err = lab.InSend(func() error {
			s, err = net.ListenUDP("udp", &net.UDPAddr{IP: src.AsSlice()})
			return err
		})
		return s, err
	}
	rc, err := newRebindConn(open)
	if err != nil {
		return nil, err
	}
	rc.record = record
	c := &h3client{conn: rc, tr: &quic.Transport{Conn: rc}, url: "https://" + server + "/whoami"}
	var dialed sync.Once
	c.h3 = &http3.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		QUICConfig:      &quic.Config{MaxIdleTimeout: 20 * time.Second, HandshakeIdleTimeout: 15 * time.Second, Tracer: qlog.DefaultConnectionTracer},
		Dial: func(ctx context.Context, addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Conn, error) {
			err := errRedial
			dialed.Do(func() { err = nil })
			if err != nil {
				return nil, err
			}
			ua, err := net.ResolveUDPAddr("udp", addr)
			if err != nil {
				return nil, err
			}
			return c.tr.DialEarly(ctx, ua, tlsConf, conf)
		},
	}
	c.http = &http.Client{Transport: c.h3, Timeout: 15 * time.Second}
	return c, nil
}

// whoami asks which member serves the connection.
func (c *h3client) whoami() (int, error) {
	resp, err := c.http.Get(c.url)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1, err
	}
	if resp.StatusCode != http.StatusOK {
		return -1, fmt.Errorf("status %s", resp.Status)
	}
	return strconv.Atoi(string(b))
}

func (c *h3client) close() {
	c.h3.Close()
	c.tr.Close()
	c.conn.Close()
}

// SetReadBuffer and SetWriteBuffer keep quic-go from warning; the sockets
// keep their default buffers.
func (c *rebindConn) SetReadBuffer(int) error  { return nil }
func (c *rebindConn) SetWriteBuffer(int) error { return nil }
