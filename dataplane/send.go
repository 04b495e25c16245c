package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/pcb"
)

// The endpoint side of sending: Reply, WriteTo, WriteBatch, SendIP,
// AppendFrame and SendFrame (the worker side is tx.go).

// PeerQueue, as SendIP's queue, sends on the queue the destination's last
// frame arrived on.
const PeerQueue = -1

var (
	// ErrUnknownPeer is returned (wrapped) by WriteTo, SendIP and
	// AppendFrame for a destination the endpoint has received nothing from
	// (or whose entry a newer peer evicted from the peer cache): its link
	// header and queue are not known.
	ErrUnknownPeer = errors.New("unknown peer: no frame received from it, its MAC address and queue are not known")
	// ErrMessageTooLong is returned (wrapped) for a datagram that does not
	// fit in one UMEM frame with its headers.
	ErrMessageTooLong = errors.New("message too long")
	// ErrNoFrame is returned by Reply for a Frame that was not received or
	// was already released.
	ErrNoFrame = errors.New("frame not held: never received or already released")
	// ErrTimeout is returned (wrapped) by a write that found its stage
	// full until its deadline. It is os.ErrDeadlineExceeded's sibling for
	// WriteTo without a deadline: the stage stayed full for stageWait.
	ErrTimeout = errors.New("transmit stage full")

	errNotSupportedTX = fmt.Errorf("send: %w: the queue's source has no TX ring", ErrNotSupported)
	errNotUDP         = fmt.Errorf("send: %w: Reply and WriteTo are for UDP endpoints (SendFrame sends any frame)", ErrNotSupported)
	errReplyClosed    = fmt.Errorf("reply: %w", ErrClosed)
	errWriteClosed    = fmt.Errorf("write: %w", ErrClosed)
	errSendClosed     = fmt.Errorf("send frame: %w", ErrClosed)
	errShortFrame     = errors.New("shorter than an Ethernet header")

	// SendIP's errors that callers meet per packet, built once.
	errSendIPClosed = fmt.Errorf("send ip: %w", ErrClosed)
	errSendIPPeer   = fmt.Errorf("send ip: %w", ErrUnknownPeer)
	errSendIPNotIP  = errors.New("send ip: not an IPv4 or IPv6 packet")
	errSendIPNoTX   = fmt.Errorf("send ip: %w: the queue's source has no TX ring", ErrNotSupported)
	errAppendClosed = fmt.Errorf("append frame: %w", ErrClosed)
	errAppendPeer   = fmt.Errorf("append frame: %w", ErrUnknownPeer)
	errAppendNotIP  = errors.New("append frame: not an IPv4 or IPv6 packet")
	errGrowClosed   = fmt.Errorf("grow peer cache: %w", ErrClosed)
)

// Message is one datagram for WriteBatch.
type Message struct {
	Payload []byte
	Addr    netip.AddrPort
}

// Reply sends payload back to f's sender: from f.Dst to f.Src, with f's
// link header (MACs swapped, VLAN tags kept), on f's queue. It builds the
// reply in f's own UMEM frame (the fast path: no copy when payload is
// f.Payload itself, and never an allocation), or, when payload does not fit
// there, copies it through the WriteTo path. Either way Reply takes f over:
// on return f is released, whether the reply was sent or not, and must not
// be used again.
//
// It fails with ErrNotSupported when f's queue cannot transmit (its source
// has no TX ring), ErrClosed once the endpoint is closed, ErrNoFrame for a
// frame not held, ErrMessageTooLong when payload does not fit a frame.
// Success means the worker has the frame; the kernel may still drop it.
func (e *Endpoint) Reply(f *Frame, payload []byte) error {
	r := f.r
	if r == nil {
		return ErrNoFrame
	}
	if r.ep != e {
		return r.ep.Reply(f, payload)
	}
	if r.handler() && !r.hbLive(f) {
		*f = Frame{} // released, replied with, or kept past its Handler's return
		return ErrNoFrame
	}
	w := e.d.workers[r.queue]
	if e.spec.Proto != pcb.UDP {
		e.releaseOne(f)
		return errNotUDP
	}
	if !w.tx.ok.Load() {
		e.releaseOne(f)
		return errNotSupportedTX
	}
	data := f.Data
	l2 := int(f.l3)
	ipLen := 20
	if data[l2]>>4 == 6 {
		ipLen = 40
	}
	hdr := l2 + ipLen + 8
	base := f.addr
	payAbs := base + uint64(f.l4) + 8
	start := payAbs - uint64(hdr)
	end := payAbs + uint64(len(payload))
	fs := w.tx.frameSize
	if l2 > maxL2 || end > base&^(fs-1)+fs {
		return e.replyCopy(f, payload)
	}
	umem := r.umem
	out := umem[start:end:end]
	if len(payload) > 0 && &payload[0] != &umem[payAbs] {
		copy(out[hdr:], payload)
	}
	copy(out, data[:l2]) // moves forward: start >= base
	swappedL2(out[:l2], out[:l2])
	packet.PutIPUDP(out[l2:], f.Dst, f.Src, ipLen, replyTTL)

	if r.handler() {
		// On the worker, inside the Handler: straight to its TX batch.
		w.txAdd(start, uint32(end-start))
		r.hb[f.hi] = Frame{}
		*f = Frame{}
		return nil
	}
	e.mu.Lock()
	if e.closed || e.postClose {
		e.mu.Unlock()
		e.releaseOne(f)
		return errReplyClosed
	}
	sl := &r.slots[r.relA&r.mask]
	sl.addr, sl.len = start, uint32(end-start)
	r.relA++
	r.rel.Store(r.relA)
	e.mu.Unlock()
	*f = Frame{}
	if w.returns.Swap(1) == 0 {
		w.wake()
	}
	return nil
}

// replyCopy sends payload to f's sender through the stage, then releases f.
func (e *Endpoint) replyCopy(f *Frame, payload []byte) error {
	var p peerEntry
	l2 := int(f.l3)
	if l2 > maxL2 {
		e.releaseOne(f)
		return fmt.Errorf("reply: link header of %d bytes: %w", l2, ErrNotSupported)
	}
	swappedL2(p.l2[:l2], f.Data[:l2])
	p.l2Len = uint8(l2)
	p.queue = int32(f.Queue)
	src, dst := f.Dst, f.Src
	e.releaseOne(f)
	if err := e.stage(&p, src, dst, payload, time.Time{}); err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	return nil
}

// WriteTo sends payload to dst from the endpoint's address and port. dst's
// MAC address and queue come from its last frame to the endpoint (the
// peer cache), or, for a peer never heard from, from Config.Neighbors
// (an Interface's: the kernel's neighbour table, which WriteTo has the
// kernel fill by ARP or neighbour discovery, waiting up to 200 ms or the
// write deadline); ErrUnknownPeer when neither knows it. The datagram is
// copied into a stage and from there, by the worker, into a UMEM frame;
// Reply avoids both copies. A full stage makes WriteTo wait up to a
// second (ErrTimeout).
func (e *Endpoint) WriteTo(payload []byte, dst netip.AddrPort) error {
	return e.writeTo(payload, dst, time.Time{})
}

// WriteBatch sends msgs as WriteTo does and returns how many were sent
// before the first error.
func (e *Endpoint) WriteBatch(msgs []Message) (int, error) {
	for i := range msgs {
		if err := e.writeTo(msgs[i].Payload, msgs[i].Addr, time.Time{}); err != nil {
			return i, err
		}
	}
	return len(msgs), nil
}

func (e *Endpoint) writeTo(payload []byte, dst netip.AddrPort, deadline time.Time) error {
	if e.spec.Proto != pcb.UDP {
		return errNotUDP
	}
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	e.mu.Lock()
	closed := e.closed || e.postClose
	p, ok := e.peers.lookup(dst.Addr())
	e.mu.Unlock()
	if closed {
		return errWriteClosed
	}
	if !ok {
		wait := neighborWait
		if !deadline.IsZero() {
			wait = min(wait, time.Until(deadline))
		}
		var err error
		if p, err = e.resolvePeer(dst.Addr(), wait); err != nil {
			return fmt.Errorf("write to %v: %w", dst, err)
		}
	}
	local := e.spec.Local.Addr()
	if local.IsUnspecified() || local.Unmap().Is4() != dst.Addr().Is4() {
		local = p.local
	}
	if err := e.stage(&p, netip.AddrPortFrom(local.Unmap(), e.spec.Local.Port()), dst, payload, deadline); err != nil {
		return fmt.Errorf("write to %v: %w", dst, err)
	}
	return nil
}

// SendFrame sends one complete Ethernet frame (checksums already computed)
// on queue's AF_XDP TX ring, through that queue's worker. It copies frame
// into the (queue, endpoint) stage before returning, so the caller may
// reuse its buffer at once; the worker copies it into a free UMEM frame,
// as for WriteTo. Any protocol: this is how a user-space TCP/IP stack on a
// TCP endpoint sends (dataplane/netstackep). Safe for concurrent callers:
// the producers of the endpoint's stages are serialized by its txMu.
//
// It fails with an error naming the queue when queue is out of range,
// ErrClosed once the endpoint is closed, ErrNotSupported when the queue
// cannot transmit (its source has no TX ring), ErrMessageTooLong when
// frame exceeds a UMEM frame, and ErrTimeout when the stage stays full for
// a second. A frame shorter than an Ethernet header is refused. Success
// means the worker has the frame; the kernel may still drop it.
func (e *Endpoint) SendFrame(queue int, frame []byte) error {
	if queue < 0 || queue >= len(e.rings) {
		return fmt.Errorf("send frame: queue %d out of range [0, %d)", queue, len(e.rings))
	}
	e.mu.Lock()
	closed := e.closed || e.postClose
	e.mu.Unlock()
	if closed {
		return errSendClosed
	}
	w := e.d.workers[queue]
	if !w.tx.ok.Load() {
		return fmt.Errorf("send frame on queue %d: %w", queue, errNotSupportedTX)
	}
	if len(frame) > int(w.tx.frameSize) {
		return fmt.Errorf("send frame on queue %d: %d bytes, UMEM frames hold %d: %w",
			queue, len(frame), w.tx.frameSize, ErrMessageTooLong)
	}
	if len(frame) < minFrame {
		return fmt.Errorf("send frame on queue %d: %d bytes: %w", queue, len(frame), errShortFrame)
	}
	st, out, err := e.stageSlot(w, e.rings[queue], time.Time{})
	if err != nil {
		return fmt.Errorf("send frame on queue %d: %w", queue, err)
	}
	copy(out, frame)
	e.stagePublish(w, st, len(frame))
	return nil
}

// SendIP sends one IP packet (IPv4 or IPv6, checksums already computed)
// behind the link header the endpoint learned for its destination address
// (the destination's MAC, ours, and the VLAN tags its frames carried: the
// peer cache of EndpointOptions.PeerCacheSize), on queue's AF_XDP TX ring,
// through that queue's worker; queue PeerQueue means the queue the
// destination's last frame arrived on. Like SendFrame it copies pkt into
// the (queue, endpoint) stage before returning (the caller may reuse pkt at
// once), works from an endpoint of any protocol, and is safe for
// concurrent callers. It is how a user-space TCP/IP stack sends
// (dataplane/netstackep): the stack builds IP packets, the dataplane owns
// the link layer.
//
// It fails with ErrUnknownPeer when nothing was received from the
// destination and Config.Neighbors (an Interface's: the kernel's
// neighbour table) does not know it either (SendIP does not wait for a
// resolution; the kernel is asked to resolve it for a later packet),
// ErrClosed once the endpoint is closed, ErrNotSupported
// when the queue cannot transmit, ErrMessageTooLong when the frame exceeds
// a UMEM frame, ErrTimeout when the stage stays full for a second, and an
// error naming the queue when it is out of range; a packet that is not
// IPv4 or IPv6 (by its version nibble and minimal header length) is
// refused. The per-packet errors (unknown peer, closed, no TX ring) are
// built once: SendIP allocates nothing, also when it fails, unless it asks
// Config.Neighbors about a peer cache miss.
func (e *Endpoint) SendIP(queue int, pkt []byte) error {
	dst, ok := ipDst(pkt)
	if !ok {
		return errSendIPNotIP
	}
	e.mu.Lock()
	closed := e.closed || e.postClose
	p, ok := e.peers.lookup(dst)
	e.mu.Unlock()
	if closed {
		return errSendIPClosed
	}
	if !ok {
		if e.d.cfg.Neighbors == nil {
			return errSendIPPeer
		}
		var err error
		if p, err = e.resolvePeer(dst, 0); err != nil {
			return fmt.Errorf("send ip: %w", err)
		}
	}
	if queue == PeerQueue {
		queue = int(p.queue)
	}
	if queue < 0 || queue >= len(e.rings) {
		return fmt.Errorf("send ip: queue %d out of range [0, %d)", queue, len(e.rings))
	}
	w := e.d.workers[queue]
	if !w.tx.ok.Load() {
		return errSendIPNoTX
	}
	l2 := int(p.l2Len)
	n := l2 + len(pkt)
	if n > int(w.tx.frameSize) {
		return fmt.Errorf("send ip on queue %d: %d bytes with the link header, UMEM frames hold %d: %w",
			queue, n, w.tx.frameSize, ErrMessageTooLong)
	}
	st, out, err := e.stageSlot(w, e.rings[queue], time.Time{})
	if err != nil {
		return fmt.Errorf("send ip on queue %d: %w", queue, err)
	}
	copy(out, p.l2[:l2])
	copy(out[l2:n], pkt)
	e.stagePublish(w, st, n)
	return nil
}

// AppendFrame appends to dst the frame SendIP would send for pkt (the link
// header learned for pkt's destination, then pkt) and returns the extended
// slice and the queue the destination's last frame arrived on. It is for
// senders other than the queue's TX ring (netstackep's AF_PACKET
// fallback). Errors as SendIP's: ErrUnknownPeer, ErrClosed, not an IP
// packet. It allocates only when dst lacks room.
func (e *Endpoint) AppendFrame(dst, pkt []byte) ([]byte, int, error) {
	a, ok := ipDst(pkt)
	if !ok {
		return dst, 0, errAppendNotIP
	}
	e.mu.Lock()
	closed := e.closed || e.postClose
	p, ok := e.peers.lookup(a)
	e.mu.Unlock()
	if closed {
		return dst, 0, errAppendClosed
	}
	if !ok {
		if e.d.cfg.Neighbors == nil {
			return dst, 0, errAppendPeer
		}
		var err error
		if p, err = e.resolvePeer(a, 0); err != nil {
			return dst, 0, fmt.Errorf("append frame: %w", err)
		}
	}
	return append(append(dst, p.l2[:p.l2Len]...), pkt...), int(p.queue), nil
}

// GrowPeerCache makes the endpoint's peer cache hold at least n peers
// (rounded up to a power of two, at most MaxPeerCacheSize); it never
// shrinks it, and keeps what was learned. For a user of an endpoint bound
// by someone else (netstackep.Options.MaxPeers): EndpointOptions'
// PeerCacheSize sizes it at Bind. It allocates the new table.
func (e *Endpoint) GrowPeerCache(n int) error {
	if err := checkPeerCacheSize(n); err != nil {
		return fmt.Errorf("grow peer cache: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errGrowClosed
	}
	e.peers.grow(n)
	return nil
}

// PeerCacheSize returns the number of slots of the endpoint's peer cache.
func (e *Endpoint) PeerCacheSize() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.peers.e)
}

// ipDst returns the destination address of an IPv4 or IPv6 packet.
func ipDst(pkt []byte) (netip.Addr, bool) {
	if len(pkt) == 0 {
		return netip.Addr{}, false
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) >= 20 {
			return netip.AddrFrom4([4]byte(pkt[16:20])), true
		}
	case 6:
		if len(pkt) >= 40 {
			return netip.AddrFrom16([16]byte(pkt[24:40])), true
		}
	}
	return netip.Addr{}, false
}

// stage builds a frame from p's link header, src, dst and payload on the
// stage of p's queue and tells the worker.
func (e *Endpoint) stage(p *peerEntry, src, dst netip.AddrPort, payload []byte, deadline time.Time) error {
	q := int(p.queue)
	if q < 0 || q >= len(e.rings) {
		return ErrUnknownPeer
	}
	w := e.d.workers[q]
	if !w.tx.ok.Load() {
		return errNotSupportedTX
	}
	if src.Addr().Is4() != dst.Addr().Is4() {
		return fmt.Errorf("%w: from %v to %v: address families differ", ErrNotSupported, src, dst)
	}
	ipLen := 20
	if !dst.Addr().Is4() {
		ipLen = 40
	}
	l2 := int(p.l2Len)
	hdr := l2 + ipLen + 8
	n := hdr + len(payload)
	if n > int(w.tx.frameSize) {
		return fmt.Errorf("%d bytes: %w", len(payload), ErrMessageTooLong)
	}
	st, slot, err := e.stageSlot(w, e.rings[q], deadline)
	if err != nil {
		return err
	}
	out := slot[:n]
	copy(out, p.l2[:l2])
	copy(out[hdr:], payload)
	packet.PutIPUDP(out[l2:], src, dst, ipLen, replyTTL)
	e.stagePublish(w, st, n)
	return nil
}

// stageSlot returns r's stage (made on first use) and its next free slot
// (frameSize bytes), waiting for the worker while the stage is full, until
// deadline (zero: stageWait from now; then ErrTimeout). On success e.txMu
// is held: the caller fills the slot and calls stagePublish.
func (e *Endpoint) stageSlot(w *worker, r *ring, deadline time.Time) (*txStage, []byte, error) {
	st := r.stage.Load()
	if st == nil {
		e.txMu.Lock()
		if st = r.stage.Load(); st == nil {
			st = newTxStage(stageSlots, int(w.tx.frameSize))
			r.stage.Store(st)
		}
		e.txMu.Unlock()
	}
	e.txMu.Lock()
	for st.prodA-st.cons.Load() > st.mask {
		e.txMu.Unlock()
		if w.returns.Swap(1) == 0 {
			w.wake()
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(stageWait)
		}
		if !time.Now().Before(deadline) {
			return nil, nil, ErrTimeout
		}
		time.Sleep(20 * time.Microsecond)
		e.txMu.Lock()
	}
	return st, st.slot(st.prodA & st.mask), nil
}

// stagePublish publishes the slot stageSlot returned, now holding an n-byte
// frame, releases e.txMu and tells the worker.
func (e *Endpoint) stagePublish(w *worker, st *txStage, n int) {
	st.lens[st.prodA&st.mask] = uint32(n)
	st.prodA++
	st.prod.Store(st.prodA)
	e.txMu.Unlock()
	if w.returns.Swap(1) == 0 {
		w.wake()
	}
}
