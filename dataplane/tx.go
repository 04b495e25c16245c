package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

// Sending (docs/REPLIES.md). An application never touches its queue's
// AF_XDP rings: it hands frames to the queue's worker, which transmits
// them between two batches and takes them back from the completion ring.
//
//   - Reply builds the answer in the received frame's own UMEM frame (the
//     payload in place of the request's, new headers just before it) and
//     releases the frame into its delivery ring as a transmit slot (len >
//     0): no copy, no allocation, and the frame travels in the same ring
//     as every other release.
//   - WriteTo builds the whole frame (headers learned from the peer's
//     earlier frames) in a per-(queue, endpoint) stage outside the UMEM;
//     the worker copies it into a free frame and transmits it.
//   - SendFrame takes a whole frame the application built (a user-space
//     TCP/IP stack's, any protocol) and copies it into the same stage.
//
// A frame in transit is counted by the frame accounting: in a delivery ring
// until the worker collects it, then held by the worker, then in flight
// (TX or completion ring) until Complete returns it to the source.

var (
	// ErrUnknownPeer is returned (wrapped) by WriteTo for a destination the
	// endpoint has received nothing from: its MAC address and queue are
	// not known.
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
)

const (
	// stageSlots is the number of datagrams a (queue, endpoint) stage
	// holds; a WriteTo that finds it full waits for the worker.
	stageSlots = 256
	// stageWait bounds how long a WriteTo without a deadline waits for
	// room in a full stage.
	stageWait = time.Second
	// txPollWait is how long an idle worker with frames in flight sleeps
	// before it reaps the completion ring again.
	txPollWait = 200 * time.Microsecond
	// maxL2 is the longest link header a reply keeps: Ethernet with two
	// VLAN tags (the parser's limit).
	maxL2 = 14 + 8
	// replyTTL is the IPv4 TTL and IPv6 hop limit of sent datagrams.
	replyTTL = 64
	// minFrame is the shortest frame SendFrame takes: an Ethernet header.
	minFrame = 14
)

// Message is one datagram for WriteBatch.
type Message struct {
	Payload []byte
	Addr    netip.AddrPort
}

// txSide is a worker's transmit state. Worker-private except ok.
type txSide struct {
	tr        rxq.Transmitter // nil: the source cannot send
	ok        atomic.Bool     // sending works (read by applications)
	frameSize uint64
	descs     []rxq.Desc // to transmit at the next flush
	inflight  int        // frames on the TX or completion ring
}

func (w *worker) initTX(src rxq.Source) {
	w.tx.descs = make([]rxq.Desc, 0, rxq.BatchSize)
	tr, ok := src.(rxq.Transmitter)
	if !ok {
		return
	}
	if c, ok := src.(rxq.CanTransmitter); ok && !c.CanTransmit() {
		return
	}
	fs := tr.FrameSize()
	if fs <= 0 || fs&(fs-1) != 0 {
		return
	}
	w.tx.tr = tr
	w.tx.frameSize = uint64(fs)
	w.tx.ok.Store(true)
}

// txAdd queues one frame to transmit at the next flush.
func (w *worker) txAdd(addr uint64, n uint32) {
	w.tx.descs = append(w.tx.descs, rxq.Desc{Addr: addr, Len: n})
	if len(w.tx.descs) == cap(w.tx.descs) {
		w.txFlush()
	}
}

// txFlush hands the queued frames to the source's TX ring. Frames that do
// not fit, even after reaping completions, are recycled and counted
// TXDropped. A source that takes nothing while nothing of ours is in flight
// has no TX ring: sending is switched off for the queue (ErrNotSupported).
func (w *worker) txFlush() {
	descs := w.tx.descs
	if len(descs) == 0 {
		return
	}
	w.tx.descs = descs[:0]
	n := 0
	if w.tx.tr != nil && w.tx.ok.Load() {
		n = w.tx.tr.Transmit(descs)
		if n < len(descs) {
			w.txComplete()
			n += w.tx.tr.Transmit(descs[n:])
		}
		if n == 0 && w.tx.inflight == 0 {
			w.tx.ok.Store(false)
		}
		w.tx.inflight += n
		w.c.txSent += uint64(n)
	}
	for _, d := range descs[n:] {
		w.c.txDropped++
		w.recycleAddr(d.Addr)
	}
}

// txComplete takes back the frames the kernel has sent.
func (w *worker) txComplete() {
	for w.tx.inflight > 0 {
		n := w.tx.tr.Complete()
		if n == 0 {
			return
		}
		w.tx.inflight -= n
	}
}

// drainStage copies the datagrams staged on r into free frames and queues
// them for transmission.
func (w *worker) drainStage(r *ring) {
	st := r.stage.Load()
	if st == nil {
		return
	}
	prod := st.prod.Load()
	cons := st.consW
	if cons == prod {
		return
	}
	tr := w.tx.tr
	for ; cons != prod; cons++ {
		i := cons & st.mask
		n := st.lens[i]
		if tr == nil || !w.tx.ok.Load() {
			w.c.txDropped++
			continue
		}
		a, ok := tr.AllocFrame()
		if !ok {
			w.txComplete()
			if a, ok = tr.AllocFrame(); !ok {
				w.c.txDropped++
				continue
			}
		}
		copy(w.umem[a:a+uint64(n)], st.slot(i)[:n])
		w.txAdd(a, n)
	}
	st.consW = cons
	st.cons.Store(cons)
}

// txStage is a single-producer (the endpoint's WriteTo and SendFrame
// callers, under its txMu), single-consumer (the queue's worker) ring of
// whole frames built outside the UMEM. Indices are free-running; the
// producer writes a slot, then publishes prod; the worker reads prod,
// copies, then publishes cons.
type txStage struct {
	prod atomic.Uint32 // written by the application
	_    cacheLinePad
	cons atomic.Uint32 // written by the worker
	_    cacheLinePad

	consW    uint32 // worker-private copy of cons
	prodA    uint32 // application-private copy of prod, under txMu
	mask     uint32
	slotSize int
	lens     []uint32
	buf      []byte
}

func newTxStage(slots, slotSize int) *txStage {
	return &txStage{
		mask:     uint32(slots - 1),
		slotSize: slotSize,
		lens:     make([]uint32, slots),
		buf:      make([]byte, slots*slotSize),
	}
}

func (st *txStage) slot(i uint32) []byte {
	o := int(i) * st.slotSize
	return st.buf[o : o+st.slotSize : o+st.slotSize]
}

// peerCache remembers, per remote address, how the endpoint last heard
// from it: the link header to answer with and the queue. It is a small
// direct-mapped table (a newer peer evicts an older one in the same slot),
// written by take under the endpoint's mutex: no allocation per frame.
type peerCache struct {
	e [peerCacheSize]peerEntry
}

const peerCacheSize = 128 // a power of two

type peerEntry struct {
	peer  netip.Addr // remote address (unmapped)
	local netip.Addr // the local address it sent to
	l2    [maxL2]byte
	l2Len uint8
	queue int32
}

func peerIndex(a netip.Addr) int {
	b := a.As16()
	h := binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])
	h *= 0x9e3779b97f4a7c15
	return int(h >> (64 - 7))
}

// learn records f's sender. The link header is stored swapped: the
// sender's MAC as destination, ours as source, tags and ethertype kept.
func (c *peerCache) learn(f *Frame) {
	l2 := int(f.l3)
	if l2 > maxL2 || l2 < 14 {
		return
	}
	p := &c.e[peerIndex(f.Src.Addr())]
	d := f.Data
	if p.peer == f.Src.Addr() && p.local == f.Dst.Addr() && p.queue == int32(f.Queue) &&
		int(p.l2Len) == l2 && [6]byte(p.l2[0:6]) == [6]byte(d[6:12]) && [6]byte(p.l2[6:12]) == [6]byte(d[0:6]) {
		return
	}
	p.peer, p.local, p.queue, p.l2Len = f.Src.Addr(), f.Dst.Addr(), int32(f.Queue), uint8(l2)
	swappedL2(p.l2[:l2], d[:l2])
}

func (c *peerCache) lookup(a netip.Addr) (peerEntry, bool) {
	p := &c.e[peerIndex(a)]
	if p.l2Len == 0 || p.peer != a {
		return peerEntry{}, false
	}
	return *p, true
}

// swappedL2 copies the link header src into dst with the MACs swapped. dst
// and src may overlap only if they are the same or dst starts after src.
func swappedL2(dst, src []byte) {
	var da, sa [6]byte
	copy(da[:], src[0:6])
	copy(sa[:], src[6:12])
	copy(dst, src)
	copy(dst[0:6], sa[:])
	copy(dst[6:12], da[:])
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
	writeIPUDP(out[l2:], f.Dst, f.Src, ipLen)

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

// WriteTo sends payload to dst from the endpoint's address and port. dst
// must have sent to the endpoint before: its MAC address and queue come
// from its last frame (ErrUnknownPeer otherwise; xdpmux does not consult
// the kernel's neighbour table). The datagram is copied into a stage and
// from there, by the worker, into a UMEM frame; Reply avoids both copies.
// A full stage makes WriteTo wait up to a second (ErrTimeout).
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
		return fmt.Errorf("write to %v: %w", dst, ErrUnknownPeer)
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
	writeIPUDP(out[l2:], src, dst, ipLen)
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

// writeIPUDP writes an IPv4 (ipLen 20) or IPv6 (40) header and a UDP header
// at the start of b, whose tail after them is the payload, with both
// checksums.
func writeIPUDP(b []byte, src, dst netip.AddrPort, ipLen int) {
	udpLen := len(b) - ipLen
	u := b[ipLen : ipLen+8]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(udpLen))
	u[6], u[7] = 0, 0
	var sum uint64
	if ipLen == 20 {
		ip := b[:20]
		ip[0], ip[1] = 0x45, 0
		binary.BigEndian.PutUint16(ip[2:], uint16(len(b)))
		binary.BigEndian.PutUint32(ip[4:], 0x4000) // id 0, DF (RFC 6864)
		ip[8], ip[9] = replyTTL, 17
		ip[10], ip[11] = 0, 0
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(0, ip)))
		sum = sum16(0, ip[12:20])
	} else {
		ip := b[:40]
		binary.BigEndian.PutUint32(ip[0:], 6<<28)
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[6], ip[7] = 17, replyTTL
		s16, d16 := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
		sum = sum16(0, ip[8:40])
	}
	sum += 17 + uint64(udpLen)
	sum = sum16(sum, b[ipLen:])
	c := ^fold(sum)
	if c == 0 {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	binary.BigEndian.PutUint16(u[6:], c)
}

// sum16 adds b to the one's-complement sum s (RFC 1071), unfolded.
func sum16(s uint64, b []byte) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v >> 32
		s += v & 0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// fold folds a 64-bit sum to 16 bits.
func fold(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// TXStats are one queue's transmit counters.
type TXStats struct {
	Queue int
	// Supported: the queue's source can transmit.
	Supported bool
	// Sent frames went onto the TX ring; Dropped ones did not (TX ring
	// full, no free frame, or sending switched off) and were recycled.
	Sent, Dropped uint64
	// InFlight frames were on the TX or completion ring at the worker's
	// last flush.
	InFlight int
}

// TXStats returns each queue's transmit counters.
func (d *Dataplane) TXStats() []TXStats {
	out := make([]TXStats, len(d.workers))
	for q, w := range d.workers {
		out[q] = TXStats{
			Queue:     q,
			Supported: w.tx.ok.Load(),
			Sent:      w.pub.txSent.Load(),
			Dropped:   w.pub.txDropped.Load(),
			InFlight:  int(w.pub.txInflight.Load()),
		}
	}
	return out
}
