package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/xdpmux/xdpmux/pcb"
)

// PacketConn returns a net.PacketConn over the endpoint, for code written
// for sockets (such as a DNS server library). ReadFrom copies each payload
// out and releases the frame at once; WriteTo sends through the endpoint's
// WriteTo (to a peer it has received from), at the cost of a copy each way:
// Receive and Reply avoid both. Deadlines work for both directions.
// Closing the PacketConn closes the endpoint.
func (e *Endpoint) PacketConn() net.PacketConn {
	return &packetConn{ep: e, deadlineCh: make(chan struct{}, 1)}
}

type packetConn struct {
	ep *Endpoint

	mu            sync.Mutex
	deadline      time.Time
	writeDeadline time.Time
	deadlineCh    chan struct{} // cap 1: a new deadline was set

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

// WriteTo sends p to addr, which must be a peer the endpoint has received
// from (a *net.UDPAddr, or any net.Addr whose String is an address:port).
// Past the write deadline it fails with os.ErrDeadlineExceeded.
func (c *packetConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case nil:
		return 0, c.opError("write", errors.New("no destination address"))
	default:
		var err error
		if ap, err = netip.ParseAddrPort(addr.String()); err != nil {
			return 0, c.opError("write", fmt.Errorf("destination %v: %w", addr, err))
		}
	}
	c.mu.Lock()
	dl := c.writeDeadline
	c.mu.Unlock()
	if !dl.IsZero() && !time.Now().Before(dl) {
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	if err := c.ep.writeTo(p, ap, dl); err != nil {
		if errors.Is(err, ErrTimeout) && !dl.IsZero() {
			err = os.ErrDeadlineExceeded
		}
		return 0, c.opError("write", err)
	}
	return len(p), nil
}

// Close closes the endpoint.
func (c *packetConn) Close() error { return c.ep.Close() }

// LocalAddr returns the bound address.
func (c *packetConn) LocalAddr() net.Addr { return addrOf(c.ep.spec.Proto, c.ep.spec.Local) }

// SetDeadline sets the read and write deadlines.
func (c *packetConn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.SetReadDeadline(t)
}

// SetReadDeadline sets the read deadline; it applies to a ReadFrom already
// blocked too.
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

// SetWriteDeadline sets the write deadline: a WriteTo waiting for room in
// the endpoint's stage gives up then.
func (c *packetConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return nil
}
