package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/xdpmux/xdpmux/pcb"
)

// PacketConn returns a net.PacketConn reading from the endpoint. ReadFrom
// copies each payload out and releases the frame at once; it suits code
// written for sockets, at the cost of one copy. Closing the PacketConn
// closes the endpoint. Sending is not supported yet.
func (e *Endpoint) PacketConn() net.PacketConn {
	return &packetConn{ep: e, deadlineCh: make(chan struct{}, 1)}
}

type packetConn struct {
	ep *Endpoint

	mu         sync.Mutex
	deadline   time.Time
	deadlineCh chan struct{} // cap 1: a new deadline was set

	rmu   sync.Mutex // one ReadFrom at a time owns batch
	batch [1]Frame
}

func (c *packetConn) readDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline
}

func (c *packetConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.ep.spec.Proto.String(), Addr: c.LocalAddr(), Err: err}
}

// ReadFrom reads one payload into p; a longer payload is truncated, as for
// a UDP socket.
func (c *packetConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	e := c.ep
	for {
		n, err := e.receiveOnce(c.batch[:])
		if err != nil {
			return 0, nil, c.opError("read", err)
		}
		if n > 0 {
			f := &c.batch[0]
			nc := copy(p, f.Payload)
			from := addrOf(e.spec.Proto, f.Src)
			e.Release(c.batch[:])
			return nc, from, nil
		}
		dl := c.readDeadline()
		var t *time.Timer
		var timeout <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, c.opError("read", os.ErrDeadlineExceeded)
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		select {
		case <-e.notify:
		case <-e.closedCh:
		case <-c.deadlineCh:
		case <-timeout:
		}
		if t != nil {
			t.Stop()
		}
	}
}

func addrOf(p pcb.Proto, ap netip.AddrPort) net.Addr {
	if p == pcb.TCP {
		return net.TCPAddrFromAddrPort(ap)
	}
	return net.UDPAddrFromAddrPort(ap)
}

// WriteTo is not supported yet: sending comes later.
func (c *packetConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	return 0, c.opError("write", fmt.Errorf("send: %w", ErrNotSupported))
}

// Close closes the endpoint.
func (c *packetConn) Close() error { return c.ep.Close() }

// LocalAddr returns the bound address.
func (c *packetConn) LocalAddr() net.Addr { return addrOf(c.ep.spec.Proto, c.ep.spec.Local) }

func (c *packetConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *packetConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	select {
	case c.deadlineCh <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline does nothing: writes are not supported.
func (c *packetConn) SetWriteDeadline(t time.Time) error { return nil }
