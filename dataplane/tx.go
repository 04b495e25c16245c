package dataplane

import (
	"sync/atomic"
	"time"

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
