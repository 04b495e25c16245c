package rxqtest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpmux/xdpmux/rxq"
)

// Options sizes a Source's UMEM and rings.
type Options struct {
	NumFrames int // frames in the UMEM
	FrameSize int // bytes per frame
	// TXRingSize is the capacity of the TX ring (and of the completion
	// ring); 0 means a receive-only source, whose CanTransmit is false.
	TXRingSize int
}

// DefaultOptions returns 4096 frames of 2048 bytes, the AF_XDP defaults.
func DefaultOptions() Options {
	return Options{NumFrames: 4096, FrameSize: 2048}
}

// ErrBadOptions is returned (wrapped) by New for invalid Options.
var ErrBadOptions = errors.New("invalid rxqtest options")

// Frame states, for catching double recycles.
const (
	inFill uint8 = iota
	inRX
	held
	inTX   // on the TX ring, not yet taken by the stand-in kernel
	inComp // sent, on the completion ring
)

// Source is an in-memory rxq.Source. Inject, Wake, Close, FrameStats and the
// counters are safe for concurrent use; Receive, Recycle and Wait belong to
// one goroutine (the worker), as on rxq.Source.
type Source struct {
	queue     int
	frameSize uint64
	umem      []byte

	mu     sync.Mutex
	fill   addrQueue // free frames, ready for Inject
	rx     descQueue // injected, not yet received
	state  []uint8   // per frame: inFill, inRX, held, inTX or inComp
	closed bool
	// waitErr, set by FailWait, is what Wait returns instead of waiting.
	waitErr error
	tx      descQueue // TX ring: descriptors queued by Transmit
	comp    addrQueue // completion ring: frames TakeSent has sent
	txSize  int

	wake     chan struct{} // cap 1: Inject and Wake post, Wait takes
	done     chan struct{} // closed by Close
	timer    *time.Timer   // Wait's timer, used only by the worker
	injected atomic.Uint64
	empty    atomic.Uint64 // Injects that found no free frame
	sent     atomic.Uint64 // frames TakeSent has taken off the TX ring
	waits    atomic.Uint64 // calls to Wait
	closeMu  sync.Once
}

var (
	_ rxq.Source         = (*Source)(nil)
	_ rxq.Transmitter    = (*Source)(nil)
	_ rxq.CanTransmitter = (*Source)(nil)
	_ rxq.FillEmptier    = (*Source)(nil)
)

// New returns a Source for queue with all its frames in the fill ring.
func New(queue int, opts Options) (*Source, error) {
	if opts.NumFrames <= 0 || opts.FrameSize <= 0 {
		return nil, fmt.Errorf("rxqtest: %d frames of %d bytes: %w", opts.NumFrames, opts.FrameSize, ErrBadOptions)
	}
	if opts.TXRingSize < 0 {
		return nil, fmt.Errorf("rxqtest: TX ring size %d: %w", opts.TXRingSize, ErrBadOptions)
	}
	s := &Source{
		queue:     queue,
		frameSize: uint64(opts.FrameSize),
		umem:      make([]byte, opts.NumFrames*opts.FrameSize),
		fill:      addrQueue{buf: make([]uint64, opts.NumFrames)},
		rx:        descQueue{buf: make([]rxq.Desc, opts.NumFrames)},
		state:     make([]uint8, opts.NumFrames),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		txSize:    opts.TXRingSize,
	}
	if opts.TXRingSize > 0 {
		s.tx = descQueue{buf: make([]rxq.Desc, opts.TXRingSize)}
		s.comp = addrQueue{buf: make([]uint64, opts.NumFrames)}
	}
	for i := range opts.NumFrames {
		s.fill.push(uint64(i) * s.frameSize)
	}
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	return s, nil
}

// NewSet returns nqueues Sources, for queues 0 to nqueues-1, each with its
// own UMEM. Steering a frame to a queue (simulated RSS) is the caller's job:
// rxqtest knows nothing of packets.
func NewSet(nqueues int, opts Options) ([]*Source, error) {
	set := make([]*Source, nqueues)
	for q := range set {
		s, err := New(q, opts)
		if err != nil {
			return nil, err
		}
		set[q] = s
	}
	return set, nil
}

// Sources returns set as a slice of the interface, as dataplane.Config wants.
func Sources(set []*Source) []rxq.Source {
	out := make([]rxq.Source, len(set))
	for i, s := range set {
		out[i] = s
	}
	return out
}

// Queue returns the queue index given to New.
func (s *Source) Queue() int { return s.queue }

// UMEM returns the frame memory.
func (s *Source) UMEM() []byte { return s.umem }

// Inject plays the kernel receiving frame: it copies frame into a frame taken
// from the fill ring and queues it on rx. It returns false, and counts a
// fill-ring-empty drop, when no frame is free; it also returns false after
// Close or when frame does not fit in a UMEM frame (not counted).
func (s *Source) Inject(frame []byte) bool {
	if uint64(len(frame)) > s.frameSize {
		return false
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	addr, ok := s.fill.pop()
	if !ok {
		s.mu.Unlock()
		s.empty.Add(1)
		return false
	}
	copy(s.umem[addr:addr+s.frameSize], frame)
	s.state[addr/s.frameSize] = inRX
	s.rx.push(rxq.Desc{Addr: addr, Len: uint32(len(frame))})
	s.mu.Unlock()
	s.injected.Add(1)
	s.Wake()
	return true
}

// Receive moves up to len(descs) injected frames into descs.
func (s *Source) Receive(descs []rxq.Desc) int {
	s.mu.Lock()
	n := 0
	for n < len(descs) {
		d, ok := s.rx.pop()
		if !ok {
			break
		}
		s.state[d.Addr/s.frameSize] = held
		descs[n] = d
		n++
	}
	s.mu.Unlock()
	return n
}

// Recycle returns frames to the fill ring. addr may point anywhere inside a
// frame. Recycling a frame the caller does not hold panics.
func (s *Source) Recycle(addrs []uint64) {
	s.mu.Lock()
	for _, a := range addrs {
		i := a / s.frameSize
		if i >= uint64(len(s.state)) || s.state[i] != held {
			s.mu.Unlock()
			panic(fmt.Sprintf("rxqtest: queue %d: recycle of frame %#x not held by the caller", s.queue, a))
		}
		s.state[i] = inFill
		s.fill.push(i * s.frameSize)
	}
	s.mu.Unlock()
}

// Wait blocks until rx holds a frame, Wake is called, timeout passes, or the
// Source is closed (then it returns net.ErrClosed). After FailWait(err)
// it returns err at once instead, until FailWait(nil) or Close.
func (s *Source) Wait(timeout time.Duration) error {
	s.waits.Add(1)
	s.mu.Lock()
	closed, ready, werr := s.closed, s.rx.n > 0, s.waitErr
	s.mu.Unlock()
	if closed {
		return net.ErrClosed
	}
	if werr != nil {
		return werr
	}
	if ready {
		return nil
	}
	s.timer.Reset(timeout)
	defer s.timer.Stop()
	select {
	case <-s.wake:
	case <-s.timer.C:
	case <-s.done:
		return net.ErrClosed
	}
	return nil
}

// FailWait makes every later Wait return err at once, as a socket whose
// poll keeps failing would; FailWait(nil) makes Wait wait again. Any
// goroutine.
func (s *Source) FailWait(err error) {
	s.mu.Lock()
	s.waitErr = err
	s.mu.Unlock()
}

// Waits returns how many times Wait was called.
func (s *Source) Waits() uint64 { return s.waits.Load() }

// Wake makes a pending or the next Wait return early.
func (s *Source) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// FrameStats reports where the frames are. Frames on rx count as RX; the
// fill ring counts as Fill; rxqtest keeps no separate free list.
func (s *Source) FrameStats() rxq.FrameStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rxq.FrameStats{Total: len(s.state), Fill: s.fill.n, RX: s.rx.n}
}

// Injected returns how many frames Inject queued.
func (s *Source) Injected() uint64 { return s.injected.Load() }

// FillEmpty returns how many Injects found no free frame: the kernel's
// rx_fill_ring_empty_descs.
func (s *Source) FillEmpty() uint64 { return s.empty.Load() }

// Close makes Wait return net.ErrClosed and Inject fail. Frames keep their
// places, so FrameStats still balances after Close. Close is idempotent.
func (s *Source) Close() error {
	s.closeMu.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
	})
	return nil
}

// addrQueue is a fixed-capacity FIFO of frame addresses.
type addrQueue struct {
	buf     []uint64
	head, n int
}

func (q *addrQueue) push(a uint64) {
	q.buf[(q.head+q.n)%len(q.buf)] = a
	q.n++
}

func (q *addrQueue) pop() (uint64, bool) {
	if q.n == 0 {
		return 0, false
	}
	a := q.buf[q.head]
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return a, true
}

// descQueue is a fixed-capacity FIFO of descriptors.
type descQueue struct {
	buf     []rxq.Desc
	head, n int
}

func (q *descQueue) push(d rxq.Desc) {
	q.buf[(q.head+q.n)%len(q.buf)] = d
	q.n++
}

func (q *descQueue) pop() (rxq.Desc, bool) {
	if q.n == 0 {
		return rxq.Desc{}, false
	}
	d := q.buf[q.head]
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return d, true
}

// The transmit side (rxq.Transmitter). A test goroutine plays the kernel
// with TakeSent: it takes the descriptors off the TX ring, looks at the
// frames and puts them on the completion ring, from which the worker's
// Complete returns them to the fill ring. Frames on the TX or completion
// ring are not in FrameStats: like an rxq.Socket, the Source counts them as
// held by its user.

// CanTransmit reports whether the Source has a TX ring (Options.TXRingSize).
func (s *Source) CanTransmit() bool { return s.txSize > 0 }

// FrameSize returns the size of one UMEM frame.
func (s *Source) FrameSize() int { return int(s.frameSize) }

// AllocFrame takes a free frame (from the fill ring, which doubles as the
// free list) for the caller to build a frame to send in.
func (s *Source) AllocFrame() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.fill.pop()
	if ok {
		s.state[a/s.frameSize] = held
	}
	return a, ok
}

// FreeFrame gives back a frame the caller holds; it panics on a frame the
// caller does not hold, like Recycle.
func (s *Source) FreeFrame(addr uint64) {
	s.mu.Lock()
	i := addr / s.frameSize
	if i >= uint64(len(s.state)) || s.state[i] != held {
		s.mu.Unlock()
		panic(fmt.Sprintf("rxqtest: queue %d: free of frame %#x not held by the caller", s.queue, addr))
	}
	s.state[i] = inFill
	s.fill.push(i * s.frameSize)
	s.mu.Unlock()
}

// Transmit queues as many of descs as fit on the TX ring and returns how
// many. A descriptor must lie inside one frame the caller holds; otherwise
// Transmit panics, as the kernel would count it invalid and lose the frame.
func (s *Source) Transmit(descs []rxq.Desc) int {
	if s.txSize == 0 {
		return 0
	}
	s.mu.Lock()
	n := 0
	for _, d := range descs {
		if s.tx.n == len(s.tx.buf) {
			break
		}
		i := d.Addr / s.frameSize
		if i >= uint64(len(s.state)) || s.state[i] != held || d.Len == 0 ||
			d.Addr+uint64(d.Len) > (i+1)*s.frameSize {
			s.mu.Unlock()
			panic(fmt.Sprintf("rxqtest: queue %d: transmit of invalid descriptor %+v", s.queue, d))
		}
		s.state[i] = inTX
		s.tx.push(d)
		n++
	}
	s.mu.Unlock()
	return n
}

// Complete moves the frames TakeSent has sent from the completion ring back
// to the fill ring and returns how many.
func (s *Source) Complete() int {
	if s.txSize == 0 {
		return 0
	}
	s.mu.Lock()
	n := 0
	for {
		a, ok := s.comp.pop()
		if !ok {
			break
		}
		s.state[a/s.frameSize] = inFill
		s.fill.push(a)
		n++
	}
	s.mu.Unlock()
	return n
}

// TakeSent plays the kernel sending: it takes every descriptor off the TX
// ring, in order, calls fn (if not nil) with the frame's bytes, valid only
// during the call, and puts the frame on the completion ring. It returns
// how many frames it took. Any goroutine may call it; fn must not call the
// Source.
func (s *Source) TakeSent(fn func(frame []byte)) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for {
		d, ok := s.tx.pop()
		if !ok {
			break
		}
		if fn != nil {
			fn(s.umem[d.Addr : d.Addr+uint64(d.Len)])
		}
		i := d.Addr / s.frameSize
		s.state[i] = inComp
		s.comp.push(i * s.frameSize)
		n++
	}
	s.sent.Add(uint64(n))
	return n
}

// Sent returns how many frames TakeSent has taken off the TX ring.
func (s *Source) Sent() uint64 { return s.sent.Load() }

// TXPending returns how many frames wait on the TX ring and the completion
// ring together.
func (s *Source) TXPending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tx.n + s.comp.n
}
