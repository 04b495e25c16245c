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
	// Headroom is how far into its UMEM frame a received frame starts,
	// as the kernel's XDP_PACKET_HEADROOM: room for the metadata that
	// InjectMeta writes before the frame (at least rxq.MetaSize). 0 puts
	// frames at the start of their UMEM frame.
	Headroom int
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
	inFree // on the worker side's free list
)

// Source is an in-memory rxq.Source over the real rings: the worker's side
// is the same rxq.FillQueue, RXQueue, TXQueue and CompletionQueue an
// rxq.Socket uses, and the Source plays the kernel on the other side of
// each ring (MemRing memory, opposite roles: the pairing rxq's ring tests
// use). So the root-free dataplane tests run the real ring code, and its
// memory ordering, under -race.
//
// Inject, TakeSent, Wake, Close, FrameStats and the counters are safe for
// concurrent use (the kernel side is serialised by a mutex, as the kernel
// serialises a ring's producer); Receive, Recycle, Wait and the
// rxq.Transmitter methods belong to one goroutine (the worker), as on
// rxq.Socket.
type Source struct {
	queue     int
	frameSize uint64
	headroom  uint64
	umem      []byte
	total     int

	// The worker's side: one goroutine, no lock on the rings.
	fillQ *rxq.FillQueue       // Recycle produces free frames
	rxQ   *rxq.RXQueue         // Receive consumes received frames
	txQ   *rxq.TXQueue         // Transmit produces frames to send
	compQ *rxq.CompletionQueue // Complete consumes sent frames
	comp  [rxq.BatchSize]uint64

	mu sync.Mutex
	// The kernel's side of each ring, under mu.
	kFill *rxq.CompletionQueue // Inject takes free frames
	kRX   *rxq.TXQueue         // Inject publishes received frames
	kTX   *rxq.RXQueue         // TakeSent takes frames to send
	kComp *rxq.FillQueue       // TakeSent returns sent frames
	// Bookkeeping, under mu: each frame's state, and the worker's free
	// list of frames to build packets in (half the frames when the
	// Source can transmit, as rxq.Socket keeps).
	state     []uint8
	free      []uint64
	txReserve int
	closed    bool
	// waitErr, set by FailWait, is what Wait returns instead of waiting.
	waitErr error
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

// ringSize is the smallest power of two >= n.
func ringSize(n int) uint32 {
	size := uint32(1)
	for int(size) < n {
		size <<= 1
	}
	return size
}

// addrRing returns both ends of a ring of frame addresses (fill or
// completion) of size entries: user space produces, the kernel consumes,
// or the other way round.
func addrRing(size uint32) (*rxq.FillQueue, *rxq.CompletionQueue, error) {
	mem, off := rxq.MemRing(size, 8)
	p, err := rxq.NewFillQueue(mem, off, size)
	if err != nil {
		return nil, nil, err
	}
	c, err := rxq.NewCompletionQueue(mem, off, size)
	return p, c, err
}

// descRing returns both ends of a ring of descriptors (rx or tx).
func descRing(size uint32) (*rxq.TXQueue, *rxq.RXQueue, error) {
	mem, off := rxq.MemRing(size, 16)
	p, err := rxq.NewTXQueue(mem, off, size)
	if err != nil {
		return nil, nil, err
	}
	c, err := rxq.NewRXQueue(mem, off, size)
	return p, c, err
}

// New returns a Source for queue with its frames in the fill ring (half
// of them on the free list when opts.TXRingSize > 0, as rxq.Socket does).
func New(queue int, opts Options) (*Source, error) {
	if opts.NumFrames <= 0 || opts.FrameSize <= 0 {
		return nil, fmt.Errorf("rxqtest: %d frames of %d bytes: %w", opts.NumFrames, opts.FrameSize, ErrBadOptions)
	}
	if opts.Headroom < 0 || opts.Headroom >= opts.FrameSize {
		return nil, fmt.Errorf("rxqtest: headroom %d for frames of %d bytes: %w", opts.Headroom, opts.FrameSize, ErrBadOptions)
	}
	if opts.TXRingSize < 0 {
		return nil, fmt.Errorf("rxqtest: TX ring size %d: %w", opts.TXRingSize, ErrBadOptions)
	}
	s := &Source{
		queue:     queue,
		frameSize: uint64(opts.FrameSize),
		headroom:  uint64(opts.Headroom),
		umem:      make([]byte, opts.NumFrames*opts.FrameSize),
		total:     opts.NumFrames,
		state:     make([]uint8, opts.NumFrames),
		free:      make([]uint64, 0, opts.NumFrames),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		txSize:    opts.TXRingSize,
	}
	// The fill and rx rings hold every frame: neither ever overflows.
	frames := ringSize(opts.NumFrames)
	var err error
	if s.fillQ, s.kFill, err = addrRing(frames); err != nil {
		return nil, fmt.Errorf("rxqtest: fill ring: %w", err)
	}
	if s.kRX, s.rxQ, err = descRing(frames); err != nil {
		return nil, fmt.Errorf("rxqtest: rx ring: %w", err)
	}
	if opts.TXRingSize > 0 {
		if s.txQ, s.kTX, err = descRing(ringSize(opts.TXRingSize)); err != nil {
			return nil, fmt.Errorf("rxqtest: tx ring: %w", err)
		}
		if s.kComp, s.compQ, err = addrRing(frames); err != nil {
			return nil, fmt.Errorf("rxqtest: completion ring: %w", err)
		}
		s.txReserve = opts.NumFrames / 2
	}
	for i := range opts.NumFrames {
		a := uint64(i) * s.frameSize
		if len(s.free) < s.txReserve {
			s.state[i] = inFree
			s.free = append(s.free, a)
			continue
		}
		idx, _ := s.fillQ.Reserve(1)
		s.fillQ.Set(idx, a)
		s.fillQ.Submit(1)
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

// Inject plays the kernel receiving frame: it takes a frame from the fill
// ring, copies frame into it (after Options.Headroom) and publishes its
// descriptor on the rx ring. It returns false, and counts a
// fill-ring-empty drop, when the fill ring is empty; it also returns false
// after Close or when frame does not fit in a UMEM frame (not counted).
func (s *Source) Inject(frame []byte) bool {
	return s.inject(frame, nil)
}

// InjectMeta is Inject with XDP metadata: it writes meta in the
// rxq.MetaSize bytes before the frame, as the xdpmux_nichash program and
// AF_XDP do (rxq.ReadMeta reads it). It returns false, injecting nothing,
// when Options.Headroom has no room for it.
func (s *Source) InjectMeta(frame []byte, meta rxq.NICHash) bool {
	if s.headroom < rxq.MetaSize {
		return false
	}
	return s.inject(frame, &meta)
}

func (s *Source) inject(frame []byte, meta *rxq.NICHash) bool {
	if uint64(len(frame)) > s.frameSize-s.headroom {
		return false
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	idx, n := s.kFill.Peek(1)
	if n == 0 {
		s.mu.Unlock()
		s.empty.Add(1)
		return false
	}
	base := s.kFill.Get(idx)
	s.kFill.Release(1)
	base -= base % s.frameSize
	addr := base + s.headroom
	copy(s.umem[addr:base+s.frameSize], frame)
	if meta != nil {
		rxq.PutMeta(s.umem, addr, *meta)
	}
	s.state[base/s.frameSize] = inRX
	ridx, _ := s.kRX.Reserve(1) // the rx ring holds every frame
	s.kRX.Set(ridx, rxq.Desc{Addr: addr, Len: uint32(len(frame))})
	s.kRX.Submit(1)
	s.mu.Unlock()
	s.injected.Add(1)
	s.Wake()
	return true
}

// InjectBatch is Inject for several frames at once: one pass of the
// stand-in kernel over the fill and rx rings, one publication, one
// wake-up. It injects frames in order (each after Options.Headroom) and
// returns how many: it stops before the first frame that does not fit in
// a UMEM frame (not counted) or when the fill ring runs out (each frame
// left that would have fitted counts a fill-ring-empty drop, as Inject
// counts one), and injects nothing after Close.
func (s *Source) InjectBatch(frames [][]byte) int {
	fit := 0
	for fit < len(frames) && uint64(len(frames[fit])) <= s.frameSize-s.headroom {
		fit++
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0
	}
	idx, n := s.kFill.Peek(uint32(fit))
	ridx, _ := s.kRX.Reserve(n) // the rx ring holds every frame
	for i := range n {
		frame := frames[i]
		base := s.kFill.Get(idx + i)
		base -= base % s.frameSize
		addr := base + s.headroom
		copy(s.umem[addr:base+s.frameSize], frame)
		s.state[base/s.frameSize] = inRX
		s.kRX.Set(ridx+i, rxq.Desc{Addr: addr, Len: uint32(len(frame))})
	}
	s.kFill.Release(n)
	s.kRX.Submit(n)
	s.mu.Unlock()
	if lost := uint32(fit) - n; lost > 0 {
		s.empty.Add(uint64(lost))
	}
	if n > 0 {
		s.injected.Add(uint64(n))
		s.Wake()
	}
	return int(n)
}

// Receive takes up to len(descs) received frames off the rx ring.
func (s *Source) Receive(descs []rxq.Desc) int {
	n := s.rxQ.Receive(descs)
	if n == 0 {
		return 0
	}
	s.mu.Lock()
	for _, d := range descs[:n] {
		s.state[d.Addr/s.frameSize] = held
	}
	s.mu.Unlock()
	return n
}

// check panics unless frame i is held by the caller; under s.mu.
func (s *Source) check(verb string, a uint64) uint64 {
	i := a / s.frameSize
	if i >= uint64(len(s.state)) || s.state[i] != held {
		s.mu.Unlock()
		panic(fmt.Sprintf("rxqtest: queue %d: %s of frame %#x not held by the caller", s.queue, verb, a))
	}
	return i
}

// refill moves the free frames beyond the transmit reserve onto the fill
// ring, after n slots already reserved and set there, and publishes them
// all, as rxq.Socket's refill does (Recycle and Complete call it); under
// s.mu.
func (s *Source) refill(n uint32) {
	if extra := len(s.free) - s.txReserve; extra > 0 {
		idx, m := s.fillQ.Reserve(uint32(extra))
		for i := range m {
			a := s.free[len(s.free)-1]
			s.free = s.free[:len(s.free)-1]
			s.state[a/s.frameSize] = inFill
			s.fillQ.Set(idx+i, a)
		}
		n += m
	}
	if n > 0 {
		s.fillQ.Submit(n)
	}
}

// Recycle puts frames back on the fill ring, and with them free frames
// beyond the transmit reserve, as rxq.Socket does. addr may point
// anywhere inside a frame. Recycling a frame the caller does not hold
// panics.
func (s *Source) Recycle(addrs []uint64) {
	s.mu.Lock()
	for _, a := range addrs {
		s.state[s.check("recycle", a)] = inFill
	}
	// The frames are the fill ring's from here: publish them before
	// unlocking, so FrameStats never sees them nowhere.
	idx, _ := s.fillQ.Reserve(uint32(len(addrs))) // room for every frame
	for i, a := range addrs {
		s.fillQ.Set(idx+uint32(i), a-a%s.frameSize)
	}
	s.refill(uint32(len(addrs)))
	s.mu.Unlock()
}

// Wait blocks until rx holds a frame, Wake is called, timeout passes, or the
// Source is closed (then it returns net.ErrClosed). After FailWait(err)
// it returns err at once instead, until FailWait(nil) or Close.
func (s *Source) Wait(timeout time.Duration) error {
	s.waits.Add(1)
	s.mu.Lock()
	closed, werr := s.closed, s.waitErr
	s.mu.Unlock()
	if closed {
		return net.ErrClosed
	}
	if werr != nil {
		return werr
	}
	if s.rxQ.Ready() {
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

// FrameStats reports where the frames are: on the fill ring, on the rx
// ring, or on the free list. Frames on the TX or completion ring count as
// held by the user, as on rxq.Socket.
func (s *Source) FrameStats() rxq.FrameStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rxq.FrameStats{Total: s.total, Fill: s.fillQ.Len(), RX: s.rxQ.Len(), Free: len(s.free)}
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

// The transmit side (rxq.Transmitter). A test goroutine plays the kernel
// with TakeSent: it takes the descriptors off the TX ring, looks at the
// frames and puts them on the completion ring, from which the worker's
// Complete returns them to the free list. Frames on the TX or completion
// ring are not in FrameStats: like an rxq.Socket, the Source counts them as
// held by its user.

// CanTransmit reports whether the Source has a TX ring (Options.TXRingSize).
func (s *Source) CanTransmit() bool { return s.txSize > 0 }

// FrameSize returns the size of one UMEM frame.
func (s *Source) FrameSize() int { return int(s.frameSize) }

// AllocFrame takes a frame off the free list for the caller to build a
// frame to send in.
func (s *Source) AllocFrame() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) == 0 {
		return 0, false
	}
	a := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	s.state[a/s.frameSize] = held
	return a, true
}

// FreeFrame gives back to the free list a frame the caller holds; it
// panics on a frame the caller does not hold, like Recycle.
func (s *Source) FreeFrame(addr uint64) {
	s.mu.Lock()
	i := s.check("free", addr)
	s.state[i] = inFree
	s.free = append(s.free, i*s.frameSize)
	s.mu.Unlock()
}

// Transmit queues as many of descs as fit on the TX ring and returns how
// many. A descriptor must lie inside one frame the caller holds; otherwise
// Transmit panics, as the kernel would count it invalid and lose the frame.
func (s *Source) Transmit(descs []rxq.Desc) int {
	if s.txQ == nil {
		return 0
	}
	idx, n := s.txQ.Reserve(uint32(len(descs)))
	if n == 0 {
		return 0
	}
	s.mu.Lock()
	for _, d := range descs[:n] {
		i := d.Addr / s.frameSize
		if i >= uint64(len(s.state)) || s.state[i] != held || d.Len == 0 ||
			d.Addr+uint64(d.Len) > (i+1)*s.frameSize {
			s.mu.Unlock()
			panic(fmt.Sprintf("rxqtest: queue %d: transmit of invalid descriptor %+v", s.queue, d))
		}
		s.state[i] = inTX
	}
	s.mu.Unlock()
	for i, d := range descs[:n] {
		s.txQ.Set(idx+uint32(i), d)
	}
	s.txQ.Submit(n)
	return int(n)
}

// Complete moves the frames TakeSent has sent from the completion ring to
// the free list and returns how many.
func (s *Source) Complete() int {
	if s.compQ == nil {
		return 0
	}
	total := 0
	for {
		n := s.compQ.Complete(s.comp[:])
		if n == 0 {
			return total
		}
		s.mu.Lock()
		for _, a := range s.comp[:n] {
			s.state[a/s.frameSize] = inFree
			s.free = append(s.free, a)
		}
		s.refill(0)
		s.mu.Unlock()
		total += n
	}
}

// TakeSent plays the kernel sending: it takes every descriptor off the TX
// ring, in order, calls fn (if not nil) with the frame's bytes, valid only
// during the call, and puts the frame on the completion ring. It returns
// how many frames it took. Any goroutine may call it; fn must not call the
// Source.
func (s *Source) TakeSent(fn func(frame []byte)) int {
	if s.kTX == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for {
		idx, got := s.kTX.Peek(1)
		if got == 0 {
			break
		}
		d := s.kTX.Get(idx)
		s.kTX.Release(1)
		if fn != nil {
			fn(s.umem[d.Addr : d.Addr+uint64(d.Len)])
		}
		i := d.Addr / s.frameSize
		s.state[i] = inComp
		cidx, _ := s.kComp.Reserve(1) // the completion ring holds every frame
		s.kComp.Set(cidx, i*s.frameSize)
		s.kComp.Submit(1)
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
	if s.txQ == nil {
		return 0
	}
	return s.txQ.Len() + s.compQ.Len()
}
