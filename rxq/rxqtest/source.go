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

// Options sizes a Source's UMEM.
type Options struct {
	NumFrames int // frames in the UMEM
	FrameSize int // bytes per frame
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
	state  []uint8   // per frame: inFill, inRX or held
	closed bool

	wake     chan struct{} // cap 1: Inject and Wake post, Wait takes
	done     chan struct{} // closed by Close
	timer    *time.Timer   // Wait's timer, used only by the worker
	injected atomic.Uint64
	empty    atomic.Uint64 // Injects that found no free frame
	closeMu  sync.Once
}

var _ rxq.Source = (*Source)(nil)

// New returns a Source for queue with all its frames in the fill ring.
func New(queue int, opts Options) (*Source, error) {
	if opts.NumFrames <= 0 || opts.FrameSize <= 0 {
		return nil, fmt.Errorf("rxqtest: %d frames of %d bytes: %w", opts.NumFrames, opts.FrameSize, ErrBadOptions)
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
// Source is closed (then it returns net.ErrClosed).
func (s *Source) Wait(timeout time.Duration) error {
	s.mu.Lock()
	closed, ready := s.closed, s.rx.n > 0
	s.mu.Unlock()
	if closed {
		return net.ErrClosed
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
