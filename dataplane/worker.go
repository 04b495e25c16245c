package dataplane

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/internal/affinity"
	"github.com/xdpmux/xdpmux/dataplane/packet"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rss"
)

// idleWait bounds how long an idle worker sleeps in Source.Wait. Every
// event that needs the worker (a frame, a control message, a release) wakes
// it earlier; the bound only limits the cost of a lost wake-up.
const idleWait = 100 * time.Millisecond

// pollBatches is how many rxq.BatchSize batches poll takes from a busy
// source before it flushes: a full rx ring is drained in one pass, and the
// per-pass costs (ring publication, endpoint wake-ups, Recycle, counter
// publication) are paid once per up to pollBatches*rxq.BatchSize frames.
const pollBatches = 4

// counters are a queue's packet counters. The worker keeps a private copy
// and publishes it once per batch into queueCounters.
type counters struct {
	rx, delivered, unmatched, ringFull, closedDropped, resteered uint64
	malformed                                                    [packet.NumReasons]uint64
	txSent, txDropped                                            uint64
	overBudget                                                   uint64
	flowKept, flowEvicted                                        uint64 // bounded load
	hashNIC, hashSoftware                                        uint64 // where the hash came from
}

type queueCounters struct {
	rx, delivered, unmatched, ringFull, closedDropped, resteered atomic.Uint64
	malformed                                                    [packet.NumReasons]atomic.Uint64
	txSent, txDropped, txInflight                                atomic.Uint64
	overBudget                                                   atomic.Uint64
	flowKept, flowEvicted                                        atomic.Uint64
	hashNIC, hashSoftware                                        atomic.Uint64
}

// worker serves one queue: it owns the queue's Source (Receive, Recycle,
// Wait), its own copy of the pcb table, and the producer side of every
// delivery ring of the queue. One goroutine; nothing here is safe for
// concurrent use except the fields marked otherwise.
type worker struct {
	d     *Dataplane
	queue int
	src   rxq.Source
	umem  []byte
	tz    *rss.Toeplitz
	nic   bool // Config.Hash "nic": read the frame's NIC hash metadata
	table *pcb.Table

	descs   []rxq.Desc // BatchSize, reused
	recycle []uint64   // frames to give back, flushed when full and per batch
	tuple   packet.Tuple

	eps      []*ring // by endpoint ID; nil when not bound
	active   []*ring // the rings of bound endpoints
	retiring []*ring // rings of closed endpoints with frames still out
	touched  []*ring // rings delivered to (or dropped at) in this batch
	handled  []*ring // handler rings with frames for their handler (handler.go)
	scratch  slot    // a handler ring's frame on its way to handOff

	fb frameBudget // how the queue's frames are shared (budget.go)

	// Bounded load (boundedload.go), when bl: the fill threshold, the
	// flow table, the batch's time and the rings marked overloaded.
	bl         bool
	fill       float64
	flows      flowTable
	epoch      time.Time
	now        int64
	overloaded []*ring

	c   counters
	pub queueCounters
	tx  txSide // the transmit side (tx.go)

	waitBO waitBackoff // failed Waits: counted, spaced out (waitbackoff.go)

	// gid is the worker goroutine's ID; inHandler holds it while a Handler
	// runs, else 0 (Dataplane.onHandler).
	gid       uint64
	inHandler atomic.Uint64

	// returns is set by applications after releasing frames into a ring
	// of this queue (any goroutine); the worker clears it and collects.
	returns atomic.Uint32

	// The control mailbox: any goroutine posts under mu and sets pending.
	mu        sync.Mutex
	msgs      []*ctlMsg
	pending   atomic.Bool
	kick      chan struct{} // cap 1; wakes a worker whose source is closed
	srcClosed bool
}

func newWorker(d *Dataplane, q int, src rxq.Source, table *pcb.Table) *worker {
	w := &worker{
		d:       d,
		queue:   q,
		src:     src,
		umem:    src.UMEM(),
		tz:      d.tz,
		nic:     d.cfg.Hash == HashNIC,
		table:   table,
		descs:   make([]rxq.Desc, rxq.BatchSize),
		recycle: make([]uint64, 0, pollBatches*rxq.BatchSize),
		eps:     make([]*ring, 1),
		kick:    make(chan struct{}, 1),
	}
	if bl := d.cfg.BoundedLoad; bl.Fill > 0 {
		w.bl, w.fill, w.epoch = true, bl.Fill, time.Now()
		w.flows = newFlowTable(bl.FlowTableSize, bl.Idle)
	}
	w.initTX(src)
	return w
}

// wake makes the worker look at its mailbox and returns soon. Any goroutine.
func (w *worker) wake() {
	w.src.Wake()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *worker) run() {
	defer w.d.wg.Done()
	w.gid = goroutineID()
	if w.d.cfg.LockOSThread || len(w.d.cfg.CPUs) > 0 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if cpus := w.d.cfg.CPUs; len(cpus) > 0 {
		// Pinning is best effort: a CPU outside the allowed set leaves the
		// worker where the scheduler put it.
		_ = affinity.Pin(cpus[w.queue%len(cpus)])
	}
	for {
		if w.pending.Load() && w.handleMessages() {
			return
		}
		if w.srcClosed {
			<-w.kick
			w.collectReturns()
			w.flush()
			continue
		}
		if w.poll() > 0 {
			continue
		}
		if w.returns.Load() != 0 {
			w.collectReturns()
			w.flush()
			continue
		}
		wait := idleWait
		if w.tx.inflight > 0 {
			wait = txPollWait
		}
		switch err := w.src.Wait(wait); {
		case err == nil:
			w.waitBO.ok()
		case errors.Is(err, ErrClosed):
			w.srcClosed = true
		default:
			w.waitBO.pause(w.waitBO.failed(), w.kick)
		}
	}
}

// poll receives and processes batches until the source has no more frames
// or pollBatches batches were taken, then flushes once. It returns the
// number of frames received.
func (w *worker) poll() int {
	total := 0
	for range pollBatches {
		n := w.src.Receive(w.descs)
		if n > 0 {
			w.processBatch(w.descs[:n])
		}
		total += n
		if n < len(w.descs) {
			break
		}
	}
	if w.returns.Load() != 0 {
		w.collectReturns()
	}
	w.flush()
	return total
}

// processBatch classifies each frame of descs and delivers it to its
// endpoint's ring for this queue, or recycles and counts it. It takes no
// lock, allocates nothing and makes no interface call per frame; the
// deliveries become visible at the next flush.
func (w *worker) processBatch(descs []rxq.Desc) {
	umem := w.umem
	w.c.rx += uint64(len(descs))
	if w.bl {
		w.now = int64(time.Since(w.epoch))
	}
	for i := range descs {
		d := &descs[i]
		end := d.Addr + uint64(d.Len)
		if end > uint64(len(umem)) || end < d.Addr {
			w.c.malformed[packet.Truncated]++
			w.recycleAddr(d.Addr)
			continue
		}
		frame := umem[d.Addr:end:end]
		var meta rxq.NICHash
		if w.nic {
			meta = rxq.ReadMeta(umem, d.Addr)
		}
		hash, id, reason, fromNIC := ClassifyNIC(w.tz, w.table, frame, &w.tuple, meta)
		switch {
		case fromNIC:
			w.c.hashNIC++
		case reason == packet.OK:
			w.c.hashSoftware++
		}
		if reason != packet.OK {
			w.c.malformed[reason]++
			w.recycleAddr(d.Addr)
			continue
		}
		var r *ring
		if uint64(id) < uint64(len(w.eps)) {
			r = w.eps[id]
		}
		if r == nil {
			w.c.unmatched++
			w.recycleAddr(d.Addr)
			continue
		}
		if w.bl && r.grouped {
			r = w.stick(r, hash)
		}
		// The slot is written in place, in the ring (a handler ring's
		// frame goes through w.scratch into its batch).
		t := &w.tuple
		var sl *slot
		res := delivered
		if r.handler() {
			sl = &w.scratch
			w.touch(r)
		} else {
			sl, res = w.reserve(r)
		}
		if res == delivered {
			*sl = slot{
				addr:   d.Addr,
				len:    d.Len,
				hash:   hash,
				l3Off:  t.L3Off,
				l4Off:  t.L4Off,
				payOff: t.PayloadOff,
				payLen: t.PayloadLen,
			}
			if r.handler() {
				res = w.handOff(r, sl)
			}
		}
		if w.bl {
			w.checkLoad(r)
		}
		switch res {
		case delivered:
			w.c.delivered++
		case ringFull:
			w.c.ringFull++
			w.recycleAddr(d.Addr)
		default:
			w.c.overBudget++
			w.recycleAddr(d.Addr)
		}
	}
	if len(w.handled) > 0 {
		w.runHandlers()
	}
}

// deliverResult is what deliver did with a frame.
type deliverResult uint8

const (
	delivered  deliverResult = iota
	ringFull                 // r has no free slot
	overBudget               // r or its owner holds its budget of the queue's frames
)

// deliver puts s on r (reserve, or a handler ring's handOff).
func (w *worker) deliver(r *ring, s *slot) deliverResult {
	if r.handler() {
		w.touch(r)
		return w.handOff(r, s)
	}
	sl, res := w.reserve(r)
	if res == delivered {
		*sl = *s
	}
	return res
}

// touch puts r on the batch's touched list, once.
func (w *worker) touch(r *ring) {
	if !r.touched {
		r.touched = true
		w.touched = append(w.touched, r)
	}
}

// reserve returns r's next slot for the caller to fill, counted as
// delivered. It fails when r is full, or holds its frame budget or its
// owner's (budget.go), even after collecting the frames the application
// released into it; the drop is counted on r. Not for handler rings.
func (w *worker) reserve(r *ring) (*slot, deliverResult) {
	w.touch(r)
	if o := r.own; r.outstanding() >= r.budget || o.held >= o.share {
		w.collect(r)
		if r.outstanding() > r.mask {
			r.dropped++
			return nil, ringFull
		}
		if r.outstanding() >= r.budget || o.held >= o.share {
			r.overBudget++
			return nil, overBudget
		}
	}
	sl := &r.slots[r.prodW&r.mask]
	r.prodW++
	r.own.held++
	r.delivered++
	return sl, delivered
}

// collect recycles the frames the application released into r, and queues
// for transmission those it replied with in place.
func (w *worker) collect(r *ring) {
	rel := r.rel.Load()
	r.own.held -= rel - r.done
	for ; r.done != rel; r.done++ {
		s := &r.slots[r.done&r.mask]
		if s.len != 0 {
			w.txAdd(s.addr, s.len)
		} else {
			w.recycleAddr(s.addr)
		}
	}
}

// collectReturns collects every ring of the queue and retires the rings of
// closed endpoints that have nothing out any more.
func (w *worker) collectReturns() {
	w.returns.Store(0)
	for _, r := range w.active {
		w.collect(r)
		w.drainStage(r)
	}
	for i := 0; i < len(w.retiring); {
		r := w.retiring[i]
		w.collect(r)
		w.drainStage(r)
		if r.done == r.prodW {
			w.dropOwner(r)
			last := len(w.retiring) - 1
			w.retiring[i] = w.retiring[last]
			w.retiring[last] = nil
			w.retiring = w.retiring[:last]
			continue
		}
		i++
	}
}

func (w *worker) recycleAddr(a uint64) {
	w.recycle = append(w.recycle, a)
	if len(w.recycle) == cap(w.recycle) {
		w.src.Recycle(w.recycle)
		w.recycle = w.recycle[:0]
	}
}

// flush publishes the batch: ring producer indices and counters, endpoint
// notifications, recycled frames.
func (w *worker) flush() {
	if len(w.handled) > 0 {
		w.runHandlers()
	}
	if w.bl {
		w.markLoads()
	}
	for i, r := range w.touched {
		r.publish()
		r.touched = false
		w.touched[i] = nil
		// One token per reader pass: after a wake-up the endpoint's
		// readers look at every ring before they park again (receiveOnce
		// clears signalled first), so a busy endpoint costs the worker
		// no channel operation.
		if ep := r.ep; !r.handler() && !ep.signalled.Load() && !ep.signalled.Swap(true) {
			select {
			case ep.notify <- struct{}{}:
			default:
			}
		}
	}
	w.touched = w.touched[:0]
	w.txFlush()
	if w.tx.inflight > 0 {
		w.txComplete()
	}
	if len(w.recycle) > 0 {
		w.src.Recycle(w.recycle)
		w.recycle = w.recycle[:0]
	}
	w.publish()
}

func (w *worker) publish() {
	p, c := &w.pub, &w.c
	store(&p.rx, c.rx)
	store(&p.delivered, c.delivered)
	store(&p.flowKept, c.flowKept)
	store(&p.flowEvicted, c.flowEvicted)
	store(&p.hashNIC, c.hashNIC)
	store(&p.hashSoftware, c.hashSoftware)
	store(&p.unmatched, c.unmatched)
	store(&p.ringFull, c.ringFull)
	store(&p.closedDropped, c.closedDropped)
	store(&p.resteered, c.resteered)
	store(&p.overBudget, c.overBudget)
	for i := range c.malformed {
		store(&p.malformed[i], c.malformed[i])
	}
	store(&p.txSent, c.txSent)
	store(&p.txDropped, c.txDropped)
	store(&p.txInflight, uint64(w.tx.inflight))
}

// store publishes v in a, which only its writer (the worker) changes.
// Most counters do not move between two flushes: a load is a plain read,
// a store a locked instruction on some CPUs, so store only what changed.
func store(a *atomic.Uint64, v uint64) {
	if a.Load() != v {
		a.Store(v)
	}
}

// allRings returns the rings the worker still knows: bound and retiring.
func (w *worker) allRings() []*ring {
	return append(append([]*ring(nil), w.active...), w.retiring...)
}

// Control messages.

type msgOp uint8

const (
	msgChange  msgOp = iota + 1 // apply change (and bind or unbind ep)
	msgAccount                  // fill account[queue]
	msgStop                     // drop everything queued and exit
	msgPause                    // flush and exit, keeping every ring (handover.go)
)

// ctlMsg is one control-plane message, shared by all workers; each worker
// writes only its own index of errs and account, then calls wg.Done.
type ctlMsg struct {
	op      msgOp
	change  pcb.Change
	ep      *Endpoint // for OpBind and OpUnbind
	drain   bool      // OpUnbind: re-steer queued frames
	errs    []error
	account []frameAccount
	wg      sync.WaitGroup
}

// post queues m for w and wakes it.
func (w *worker) post(m *ctlMsg) {
	w.mu.Lock()
	w.msgs = append(w.msgs, m)
	w.pending.Store(true)
	w.mu.Unlock()
	w.wake()
}

// handleMessages applies the queued control messages, between two batches.
// It reports whether the worker must exit.
func (w *worker) handleMessages() (stop bool) {
	w.mu.Lock()
	msgs := w.msgs
	w.msgs = nil
	w.pending.Store(false)
	w.mu.Unlock()
	for _, m := range msgs {
		if w.handle(m) {
			stop = true
		}
		m.wg.Done()
	}
	return stop
}

// handle applies one message. It runs on the worker goroutine, or on the
// control plane's before Start.
func (w *worker) handle(m *ctlMsg) (stop bool) {
	switch m.op {
	case msgChange:
		m.errs[w.queue] = w.apply(m)
	case msgAccount:
		w.collectReturns()
		w.flush()
		m.account[w.queue] = w.account()
	case msgStop:
		for len(w.active) > 0 {
			r := w.active[len(w.active)-1]
			w.unbindRing(r, false)
		}
		w.collectReturns()
		w.flush()
		w.drainTX()
		return true
	case msgPause:
		w.collectReturns()
		w.flush()
		return true
	}
	return false
}

// drainTX waits a little for the frames in flight to come back from the
// completion ring, before the worker exits. Frames still out afterwards
// stay counted as in flight.
func (w *worker) drainTX() {
	deadline := time.Now().Add(50 * time.Millisecond)
	for w.tx.inflight > 0 && time.Now().Before(deadline) {
		w.txComplete()
		if w.tx.inflight > 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	w.publish()
}

func (w *worker) apply(m *ctlMsg) error {
	if err := w.table.Apply(m.change); err != nil {
		return fmt.Errorf("queue %d: %w", w.queue, err)
	}
	switch m.change.Op {
	case pcb.OpBind:
		id := int(m.change.ID)
		for len(w.eps) <= id {
			w.eps = append(w.eps, nil)
		}
		r := m.ep.rings[w.queue]
		w.eps[id] = r
		r.gkey, r.grouped = w.table.GroupKey(m.change.ID)
		w.active = append(w.active, r)
		w.addOwner(r, m.ep.spec.Owner)
		w.rebudget()
	case pcb.OpUnbind:
		if id := int(m.change.ID); id < len(w.eps) && w.eps[id] != nil {
			w.unbindRing(w.eps[id], m.drain)
			w.rebudget()
		}
	}
	return nil
}

// unbindRing takes r out of service after its endpoint was unbound from the
// worker's table: frames still queued on it are re-steered through the new
// table (drain) or dropped, and counted; frames the application holds stay
// out until released (r then waits in retiring).
func (w *worker) unbindRing(r *ring, drain bool) {
	if w.eps[r.id] == r {
		w.eps[r.id] = nil
	}
	if r.over {
		r.over = false
		for i, o := range w.overloaded {
			if o == r {
				w.dropOverloaded(i)
				break
			}
		}
	}
	for i, a := range w.active {
		if a == r {
			last := len(w.active) - 1
			w.active[i] = w.active[last]
			w.active[last] = nil
			w.active = w.active[:last]
			break
		}
	}
	r.own.eps--
	// The endpoint is marked closed before its unbind is posted, so cons no
	// longer moves.
	cons := r.cons.Load()
	r.own.held -= r.prodW - cons
	for i := cons; i != r.prodW; i++ {
		s := r.slots[i&r.mask]
		if drain && w.resteer(&s) {
			w.c.resteered++
			continue
		}
		w.c.closedDropped++
		w.recycleAddr(s.addr)
	}
	r.prodW = cons
	r.publish()
	w.collect(r)
	if r.done != r.prodW {
		w.retiring = append(w.retiring, r)
	} else {
		w.dropOwner(r)
	}
	w.flush()
}

// resteer looks s's frame up again in the (updated) table and delivers it.
func (w *worker) resteer(s *slot) bool {
	frame := w.umem[s.addr : s.addr+uint64(s.len)]
	_, id, reason := Classify(w.tz, w.table, frame, &w.tuple)
	if reason != packet.OK || uint64(id) >= uint64(len(w.eps)) || w.eps[id] == nil {
		return false
	}
	return w.deliver(w.eps[id], s) == delivered
}

// frameAccount is where one queue's frames are.
type frameAccount struct {
	src                           rxq.FrameStats
	worker                        int
	queued, held, released, rings int
	tx                            int // on the TX or completion ring
}

func (a frameAccount) sum() int {
	return a.src.Fill + a.src.RX + a.src.Free + a.worker + a.rings + a.tx
}

// account counts the queue's frames. It runs on the worker between batches
// (it holds no frame then), or after the worker is gone.
func (w *worker) account() frameAccount {
	a := frameAccount{src: w.src.FrameStats(), worker: len(w.recycle) + len(w.tx.descs), tx: w.tx.inflight}
	for _, rs := range [][]*ring{w.active, w.retiring} {
		for _, r := range rs {
			cons, rel := r.cons.Load(), r.rel.Load()
			a.rings += int(r.prodW - r.done)
			a.queued += int(r.prodW - cons)
			a.held += int(cons - rel)
			a.released += int(rel - r.done)
		}
	}
	return a
}
