package dataplane

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/xdpmux/xdpmux/pcb"
)

// Frame is one received packet, delivered by reference: Data and Payload
// point into the queue's UMEM and stay valid until the frame is released.
// A Frame must be released exactly once, through Release of the endpoint
// that received it (also after that endpoint is closed).
type Frame struct {
	Payload []byte         // the transport payload
	Data    []byte         // the whole frame, from the Ethernet header
	Src     netip.AddrPort // remote address and port
	Dst     netip.AddrPort // local address and port
	Queue   int            // the queue it was received on
	Hash    uint32         // its packet hash: Toeplitz, or the NIC's (Config.Hash)

	r      *ring
	addr   uint64
	l3, l4 uint16 // offsets of the IP and transport headers in Data
	hi     uint16 // its index in its handler batch (handler.go)
}

// IP returns f's IP packet: Data from the IPv4 or IPv6 header to the end
// its length field gives, so without the link header (Ethernet and any
// VLAN tags) and without Ethernet padding. It is a view into Data, valid
// until f is released; nil for a Frame not received. The worker's parser
// has checked the length against the frame, so the slice is always in
// bounds. IP allocates nothing.
func (f *Frame) IP() []byte {
	if f.r == nil {
		return nil
	}
	ip := f.Data[f.l3:]
	n := 40 + int(binary.BigEndian.Uint16(ip[4:6])) // IPv6: header + payload length
	if ip[0]>>4 == 4 {
		n = int(binary.BigEndian.Uint16(ip[2:4]))
	}
	return ip[:n:n]
}

// Endpoint is a bound endpoint. Any number of goroutines may call its
// methods; the consumer side of its rings is guarded by a mutex, taken once
// per Receive or Release batch, never on the worker's path.
type Endpoint struct {
	d     *Dataplane
	id    pcb.EndpointID
	spec  pcb.Spec
	name  string
	opts  EndpointOptions
	rings []*ring // by queue

	// notify gets a token (non-blocking send) after a worker batch that
	// delivered to the endpoint, when signalled was clear; the worker sets
	// signalled, receiveOnce clears it before it looks at the rings. The
	// store of a ring's prod index and the load of signalled (worker), and
	// the store of signalled and the loads of prod (reader), are
	// sequentially consistent: either the worker sees signalled clear and
	// sends, or the reader sees the frames.
	notify    chan struct{}
	signalled atomic.Bool
	closedCh  chan struct{}
	closing   atomic.Bool // Close was called (from a Handler: before closed)

	mu        sync.Mutex
	closed    bool
	postClose bool // the dataplane is closed: release straight to the source
	next      int  // round-robin start queue
	peers     peerCache

	// txMu serializes the producers of the rings' stages (WriteTo).
	txMu sync.Mutex

	// hErr is set once, by the worker that recovered a panic of the
	// endpoint's Handler (handler.go).
	hErr atomic.Pointer[error]
}

func newEndpoint(d *Dataplane, id pcb.EndpointID, spec pcb.Spec, opts EndpointOptions, size int) *Endpoint {
	ep := &Endpoint{
		d:        d,
		id:       id,
		spec:     spec,
		name:     spec.Name,
		opts:     opts,
		notify:   make(chan struct{}, 1),
		closedCh: make(chan struct{}),
		peers:    newPeerCache(opts.PeerCacheSize),
	}
	if ep.name == "" {
		ep.name = spec.String()
	}
	ep.rings = make([]*ring, len(d.workers))
	for q, w := range d.workers {
		ep.rings[q] = newRing(ep, q, size, w.umem)
	}
	return ep
}

// ID returns the endpoint's ID, unique among open endpoints.
func (e *Endpoint) ID() pcb.EndpointID { return e.id }

// Spec returns the spec the endpoint was bound with.
func (e *Endpoint) Spec() pcb.Spec { return e.spec }

// Name returns the spec's Name, or the spec itself when that is empty.
func (e *Endpoint) Name() string { return e.name }

// markClosed stops the application side: Receive fails from now on, and the
// consumer indices no longer move.
func (e *Endpoint) markClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.closed = true
	close(e.closedCh)
	return true
}

// Close unbinds the endpoint. When it returns, no worker delivers to it any
// more; frames that were queued on it are dropped or, with the Drain option,
// re-steered, and counted either way. Frames the application still holds
// stay valid until released. Close is idempotent. Called from a Handler
// (of any endpoint), Close cannot wait for the workers: it marks the
// endpoint closing, so that its handler is not called again, and closes it
// from another goroutine.
func (e *Endpoint) Close() error {
	d := e.d
	if d.onHandler() {
		if !e.closing.Swap(true) {
			go e.Close()
		}
		return nil
	}
	e.closing.Store(true)
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	if !e.markClosed() || d.closed {
		return nil
	}
	if err := d.unbindLocked(e); err != nil {
		return fmt.Errorf("close %s: %w", e.name, err)
	}
	return nil
}

// TryReceive fills batch with queued frames without blocking and returns how
// many. It returns 0 once the endpoint is closed, and always for an
// endpoint with a Handler (which receives its frames).
func (e *Endpoint) TryReceive(batch []Frame) int {
	if e.opts.Handler != nil || e.empty() {
		return 0
	}
	e.mu.Lock()
	n := 0
	if !e.closed {
		n = e.take(batch)
	}
	e.mu.Unlock()
	return n
}

// Receive waits until at least one frame is queued, then fills batch and
// returns how many. It fails with ctx's error when ctx is done and with
// ErrClosed once the endpoint is closed. An endpoint with a Handler fails
// with ErrNotSupported.
func (e *Endpoint) Receive(ctx context.Context, batch []Frame) (int, error) {
	if e.opts.Handler != nil {
		return 0, errHandlerReceive
	}
	if len(batch) == 0 {
		return 0, nil
	}
	for {
		if n, err := e.receiveOnce(batch); n > 0 || err != nil {
			return n, err
		}
		select {
		case <-e.notify:
		case <-e.closedCh:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (e *Endpoint) receiveOnce(batch []Frame) (int, error) {
	if e.signalled.Load() {
		e.signalled.Store(false)
	}
	if e.empty() {
		select {
		case <-e.closedCh:
			return 0, ErrClosed
		default:
			return 0, nil
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, ErrClosed
	}
	return e.take(batch), nil
}

// empty reports whether no ring of e has a queued frame, without the
// mutex: prod is the worker's and cons the readers' published index. A
// frame delivered or taken meanwhile is seen by the next look; the
// ordering with signalled is receiveOnce's.
func (e *Endpoint) empty() bool {
	for _, r := range e.rings {
		if r.prod.Load() != r.cons.Load() {
			return false
		}
	}
	return true
}

// take moves queued frames into batch, going round the queues. e.mu held.
func (e *Endpoint) take(batch []Frame) int {
	n, nq := 0, len(e.rings)
	start := e.next
	e.next++
	if e.next == nq {
		e.next = 0
	}
	for k := 0; k < nq && n < len(batch); k++ {
		q := start + k
		if q >= nq {
			q -= nq
		}
		r := e.rings[q]
		prod := r.prod.Load()
		cons := r.consA
		if cons == prod {
			continue
		}
		for ; cons != prod && n < len(batch); cons++ {
			f := &batch[n]
			r.frame(&r.slots[cons&r.mask], f)
			e.peers.learn(f)
			n++
		}
		r.consA = cons
		r.cons.Store(cons)
	}
	if n == len(batch) {
		// Frames may remain: pass the wake-up on to another reader.
		select {
		case e.notify <- struct{}{}:
		default:
		}
	}
	return n
}

// frame fills f from s.
func (r *ring) frame(s *slot, f *Frame) {
	end := s.addr + uint64(s.len)
	data := r.umem[s.addr:end:end]
	po, pe := int(s.payOff), int(s.payOff)+int(s.payLen)
	f.Data = data
	f.Payload = data[po:pe:pe]
	f.Queue = r.queue
	f.Hash = s.hash
	f.r = r
	f.addr = s.addr
	f.l3, f.l4 = s.l3Off, s.l4Off
	ip, l4 := data[s.l3Off:], data[s.l4Off:]
	sp, dp := binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	if ip[0]>>4 == 4 {
		f.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), sp)
		f.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), dp)
	} else {
		f.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[8:24])), sp)
		f.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[24:40])), dp)
	}
}

// Release gives frames back; each goes back to its queue's fill ring. The
// frames' Data and Payload must not be used afterwards. Release clears the
// frames in the slice, so releasing the same slice twice is harmless.
// Frames of another endpoint are released through that endpoint.
func (e *Endpoint) Release(frames []Frame) {
	// A Handler's frames go back without the mutex, which the worker
	// running the handler must not wait for (handler.go).
	rest := false
	for i := range frames {
		if r := frames[i].r; r != nil {
			if r.handler() {
				r.ep.handlerRelease(r, &frames[i])
			} else {
				rest = true
			}
		}
	}
	if !rest {
		return
	}
	e.mu.Lock()
	for i := range frames {
		f := &frames[i]
		r := f.r
		if r == nil {
			continue
		}
		if r.ep != e {
			e.mu.Unlock()
			r.ep.releaseOne(f)
			e.mu.Lock()
			continue
		}
		e.putLocked(r, f)
	}
	e.publishLocked()
	e.mu.Unlock()
}

// releaseOne releases one frame, through the endpoint that received it.
func (e *Endpoint) releaseOne(f *Frame) {
	r := f.r
	if r == nil {
		return
	}
	if r.ep != e {
		r.ep.releaseOne(f)
		return
	}
	if r.handler() {
		e.handlerRelease(r, f) // no mutex: see Release
		return
	}
	e.mu.Lock()
	e.putLocked(r, f)
	e.publishLocked()
	e.mu.Unlock()
}

// putLocked writes f's address into r's next released slot (or, after the
// dataplane closed, gives it straight back) and clears f. e.mu held.
func (e *Endpoint) putLocked(r *ring, f *Frame) {
	if e.postClose {
		e.d.recycleDirect(r, f.addr)
	} else {
		sl := &r.slots[r.relA&r.mask]
		sl.addr, sl.len = f.addr, 0
		r.relA++
	}
	*f = Frame{}
}

// publishLocked publishes the rings' release indices and tells their
// workers. e.mu held.
func (e *Endpoint) publishLocked() {
	if e.postClose {
		return
	}
	for _, r := range e.rings {
		if r.relA != r.rel.Load() {
			r.rel.Store(r.relA)
			w := e.d.workers[r.queue]
			if w.returns.Swap(1) == 0 {
				w.wake()
			}
		}
	}
}

// recycleDirect gives one released frame back to its source after the
// workers are gone. r.ep.mu held.
func (d *Dataplane) recycleDirect(r *ring, addr uint64) {
	mu := &d.postMu[r.queue]
	mu.Lock()
	d.cfg.Sources[r.queue].Recycle([]uint64{addr})
	r.done++
	r.relA++
	r.rel.Store(r.relA)
	mu.Unlock()
}
