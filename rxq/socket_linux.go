package rxq

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/rxq/internal"
)

var (
	_ Source         = (*Socket)(nil)
	_ Transmitter    = (*Socket)(nil)
	_ CanTransmitter = (*Socket)(nil)
	_ FillEmptier    = (*Socket)(nil)
)

// Socket is one AF_XDP socket bound to one receive queue of one device,
// with its UMEM (own or shared), its fill and completion rings, and an RX
// ring and/or a TX ring.
//
// One goroutine (the queue's worker) calls Receive, Recycle, Wait,
// Transmit, Complete, AllocFrame and FreeFrame; they are not safe for
// concurrent use. Wake, Close, Stats, Mode, FD and Queue may be called from
// any goroutine.
type Socket struct {
	fd        int // owned by poll once open succeeds
	ifindex   int
	queue     int
	mode      Mode
	frameSize uint32
	busyPoll  bool
	wakeup    bool // bound with XDP_USE_NEED_WAKEUP
	// kbusy: kernel busy polling is set (SocketOptions.PreferBusyPoll,
	// BusyPollUs, BusyPollBudget): Wait drives a round before parking.
	kbusy bool

	umem *umemArea
	mem  []byte // umem.mem

	fill  *FillQueue
	comp  *CompletionQueue
	rx    *RXQueue // nil without an RX ring
	tx    *TXQueue // nil without a TX ring
	rings [4][]byte

	alloc     *FrameAllocator
	total     int // frames this socket owns
	txReserve int // free frames Recycle leaves for AllocFrame

	scratch [BatchSize]uint64

	// Waiting: Wait parks on the Go netpoller through poll, with ready
	// (s.ready, made once) as the check it runs before parking and at
	// each readiness event.
	poll   *internal.Poller
	ready  func(fd uintptr) bool
	woken  atomic.Bool // set by Wake, cleared when Wait returns
	parked atomic.Bool // a Wait may be parked: Wake must interrupt it

	users  atomic.Int32 // worker calls and Wakes in progress
	closed atomic.Bool
	mu     sync.Mutex // Close
}

// umemArea is a UMEM mapping shared by the sockets that use it; it is
// unmapped when the last one closes.
type umemArea struct {
	mu   sync.Mutex
	refs int
	mem  []byte
	fd   int // the memory file (memfd) behind mem: a takeover passes it on
}

func (u *umemArea) put() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.refs--
	if u.refs > 0 {
		return nil
	}
	err := internal.Munmap(u.mem)
	u.mem = nil
	if cerr := internal.Close(u.fd); cerr != nil && err == nil {
		err = cerr
	}
	u.fd = -1
	return err
}

// OpenQueue resolves ifname in the calling thread's network namespace,
// checks that queue is one of its receive queues, and opens a socket on
// it with NewSocket.
func OpenQueue(ifname string, queue int, opts *SocketOptions) (*Socket, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %q: not found: %w", ifname, ErrNoInterface)
	}
	n := link.Attrs().NumRxQueues
	if n == 0 {
		n = SysfsRXQueues(ifname)
	}
	if queue < 0 || (n > 0 && queue >= n) {
		return nil, fmt.Errorf("interface %q: queue %d out of range: it has %d rx queues: %w",
			ifname, queue, n, ErrNoQueue)
	}
	s, err := NewSocket(link.Attrs().Index, queue, opts)
	if err != nil {
		return nil, fmt.Errorf("interface %q queue %d: %w", ifname, queue, err)
	}
	return s, nil
}

// NewSocket opens an AF_XDP socket on queue of the device ifindex (in the
// calling thread's network namespace): it maps and registers the UMEM (or
// shares opts.SharedUMEM's), sizes and maps the rings, puts frames on the
// fill ring and binds. A nil opts means DefaultSocketOptions.
//
// It does not enter the socket in an XSKMAP: the caller does that with FD()
// after NewSocket returns.
func NewSocket(ifindex, queue int, opts *SocketOptions) (*Socket, error) {
	o := DefaultSocketOptions()
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if ifindex <= 0 {
		return nil, fmt.Errorf("ifindex %d: %w", ifindex, ErrNoInterface)
	}
	if queue < 0 {
		return nil, fmt.Errorf("queue %d: %w", queue, ErrNoQueue)
	}
	if sh := o.SharedUMEM; sh != nil {
		if sh.closed.Load() {
			return nil, fmt.Errorf("shared UMEM: %w", ErrClosed)
		}
		if sh.ifindex == ifindex && sh.queue == queue {
			return nil, fmt.Errorf("shared UMEM on the same queue %d: %w", queue, ErrNotSupported)
		}
		return open(ifindex, queue, &o, unix.XDP_SHARED_UMEM)
	}
	var flags uint16
	if o.NeedWakeup {
		flags |= unix.XDP_USE_NEED_WAKEUP
	}
	switch o.ZeroCopy {
	case ZeroCopyOff:
		return open(ifindex, queue, &o, flags|unix.XDP_COPY)
	case ZeroCopyForce:
		s, err := open(ifindex, queue, &o, flags|unix.XDP_ZEROCOPY)
		if errors.Is(err, unix.EOPNOTSUPP) {
			err = fmt.Errorf("%w: zero-copy: %w", ErrNotSupported, err)
		}
		return s, err
	}
	s, err := open(ifindex, queue, &o, flags|unix.XDP_ZEROCOPY)
	if errors.Is(err, unix.EOPNOTSUPP) {
		// A failed bind leaves the socket's rings half handed over to the
		// kernel; start again on a fresh socket.
		s, err = open(ifindex, queue, &o, flags|unix.XDP_COPY)
	}
	return s, err
}

// open does NewSocket's work for one set of bind flags. On error, all it
// set up is undone.
func open(ifindex, queue int, o *SocketOptions, bindFlags uint16) (_ *Socket, err error) {
	s := &Socket{fd: -1, ifindex: ifindex, queue: queue,
		frameSize: uint32(o.FrameSize), busyPoll: o.BusyPoll, kbusy: o.kernelBusyPoll(),
		wakeup: bindFlags&unix.XDP_USE_NEED_WAKEUP != 0}
	var borrowed []uint64 // frames taken from the shared UMEM's owner
	sh := o.SharedUMEM
	defer func() {
		if err == nil {
			return
		}
		for _, b := range s.rings {
			internal.Munmap(b)
		}
		internal.Close(s.fd)
		if s.umem != nil {
			s.umem.put()
		}
		for _, a := range borrowed {
			sh.alloc.Free(a)
		}
		if sh != nil {
			sh.total += len(borrowed)
		}
	}()

	if s.fd, err = internal.Socket(); err != nil {
		return nil, classify(err)
	}
	if s.kbusy {
		if err = internal.SetBusyPoll(s.fd, o.PreferBusyPoll, o.BusyPollUs, o.BusyPollBudget); err != nil {
			return nil, classify(err)
		}
	}
	if sh == nil {
		mem, mfd, err := internal.MemfdUMEM(o.NumFrames * o.FrameSize)
		if err != nil {
			return nil, err
		}
		s.umem = &umemArea{refs: 1, mem: mem, fd: mfd}
		s.mem = mem
		s.alloc = NewFrameAllocatorFull(o.NumFrames, s.frameSize)
		s.total = o.NumFrames
		if err := internal.RegisterUMEM(s.fd, mem, s.frameSize, uint32(o.Headroom)); err != nil {
			return nil, classify(err)
		}
	} else {
		if sh.alloc.Len() < o.NumFrames {
			return nil, fmt.Errorf("NumFrames %d: shared UMEM has only %d free frames: %w",
				o.NumFrames, sh.alloc.Len(), ErrBadOption)
		}
		sh.umem.mu.Lock()
		sh.umem.refs++
		sh.umem.mu.Unlock()
		s.umem, s.mem = sh.umem, sh.mem
		s.alloc = NewFrameAllocator(uint64(len(s.mem)), s.frameSize, o.NumFrames)
		for range o.NumFrames {
			a, _ := sh.alloc.Alloc()
			borrowed = append(borrowed, a)
			s.alloc.Free(a)
		}
		sh.total -= o.NumFrames
		s.total = o.NumFrames
	}

	sizes := []struct {
		opt  int
		size int
	}{
		{unix.XDP_UMEM_FILL_RING, o.FillRingSize},
		{unix.XDP_UMEM_COMPLETION_RING, o.CompletionRingSize},
		{unix.XDP_RX_RING, o.RXRingSize},
		{unix.XDP_TX_RING, o.TXRingSize},
	}
	for _, r := range sizes {
		if r.size == 0 {
			continue
		}
		if err := internal.SetRingSize(s.fd, r.opt, uint32(r.size)); err != nil {
			return nil, classify(err)
		}
	}
	if err := s.mapRings(o.FillRingSize, o.CompletionRingSize, o.RXRingSize, o.TXRingSize); err != nil {
		return nil, err
	}
	if o.TXRingSize > 0 {
		s.txReserve = s.total / 2
	}

	// Hand the kernel frames to receive into before binding.
	if s.rx != nil {
		for s.alloc.Len() > s.txReserve {
			idx, n := s.fill.Reserve(1)
			if n == 0 {
				break
			}
			a, _ := s.alloc.Alloc()
			s.fill.Set(idx, a)
			s.fill.Submit(1)
		}
	}

	shfd := -1
	if sh != nil {
		shfd = sh.fd
	}
	// The kernel releases a closed socket's hold on its queue from a work
	// queue, so a bind right after a Close may find the queue busy for a
	// moment: retry EBUSY briefly before reporting it.
	for try := 0; ; try++ {
		err = internal.Bind(s.fd, ifindex, queue, bindFlags, shfd)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EBUSY) || try >= bindRetries {
			return nil, fmt.Errorf("queue %d: %w", queue, classify(err))
		}
		time.Sleep(bindRetryDelay)
	}
	v, err := internal.Options(s.fd)
	if err != nil {
		return nil, err
	}
	if v&unix.XDP_OPTIONS_ZEROCOPY != 0 {
		s.mode = ModeZeroCopy
	}
	// Last: from here on the poller owns the fd (and closes it on error).
	if s.poll, err = internal.NewPoller(s.fd, "xsk"); err != nil {
		s.fd = -1
		return nil, fmt.Errorf("queue %d: %w", queue, err)
	}
	s.ready = s.readyToWake
	borrowed = nil
	return s, nil
}

// mapRings maps the socket's rings of the given sizes (0: no such ring)
// and builds their user sides; the shared indices are read from the
// mappings, so a socket adopted in a takeover resumes where its rings are.
func (s *Socket) mapRings(fill, comp, rx, tx int) error {
	off, err := internal.MmapOffsets(s.fd)
	if err != nil {
		return err
	}
	mapRing := func(i int, pgoff int64, ro unix.XDPRingOffset, size, descSize int) (RingOffsets, error) {
		b, err := internal.MmapRing(s.fd, pgoff, int(ro.Desc)+size*descSize)
		if err != nil {
			return RingOffsets{}, err
		}
		s.rings[i] = b
		return RingOffsets{Producer: ro.Producer, Consumer: ro.Consumer, Flags: ro.Flags, Desc: ro.Desc}, nil
	}
	ro, err := mapRing(0, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, fill, 8)
	if err != nil {
		return err
	}
	if s.fill, err = NewFillQueue(s.rings[0], ro, uint32(fill)); err != nil {
		return err
	}
	if ro, err = mapRing(1, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, comp, 8); err != nil {
		return err
	}
	if s.comp, err = NewCompletionQueue(s.rings[1], ro, uint32(comp)); err != nil {
		return err
	}
	if rx > 0 {
		if ro, err = mapRing(2, unix.XDP_PGOFF_RX_RING, off.Rx, rx, 16); err != nil {
			return err
		}
		if s.rx, err = NewRXQueue(s.rings[2], ro, uint32(rx)); err != nil {
			return err
		}
	}
	if tx > 0 {
		if ro, err = mapRing(3, unix.XDP_PGOFF_TX_RING, off.Tx, tx, 16); err != nil {
			return err
		}
		if s.tx, err = NewTXQueue(s.rings[3], ro, uint32(tx)); err != nil {
			return err
		}
	}

	return nil
}

const (
	bindRetries    = 50
	bindRetryDelay = 10 * time.Millisecond
)

// classify adds the sentinel a caller tests for to a syscall error.
func classify(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %w", ErrPermission, err)
	case errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("AF_XDP %w: %w", ErrNotSupported, err)
	}
	return err
}

// enter and exit bracket every call that touches the rings or the fds, so
// Close can wait for them before unmapping. They cost two atomic ops per
// batch.
func (s *Socket) enter() bool {
	s.users.Add(1)
	if s.closed.Load() {
		s.users.Add(-1)
		return false
	}
	return true
}

func (s *Socket) exit() { s.users.Add(-1) }

// FD is the socket's file descriptor, to enter in the XSKMAP.
func (s *Socket) FD() int { return s.fd }

// Ifindex is the device the socket is bound to.
func (s *Socket) Ifindex() int { return s.ifindex }

// Queue is the receive queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// Mode reports whether the socket was bound in copy or zero-copy mode.
func (s *Socket) Mode() Mode { return s.mode }

// UMEM is the frame memory (for a shared UMEM, the whole shared area). It
// is unmapped by Close (by the last Close, when shared): do not touch it
// afterwards.
func (s *Socket) UMEM() []byte { return s.mem }

// FrameSize is the UMEM's frame size.
func (s *Socket) FrameSize() int { return int(s.frameSize) }

// Frame returns the bytes d describes.
func (s *Socket) Frame(d Desc) []byte { return s.mem[d.Addr : d.Addr+uint64(d.Len)] }

// FrameStats reports where the socket's frames are. Frames in the TX or
// completion ring count as held by the user.
func (s *Socket) FrameStats() FrameStats {
	if !s.enter() {
		return FrameStats{}
	}
	st := FrameStats{Total: s.total, Fill: s.fill.Len(), Free: s.alloc.Len()}
	if s.rx != nil {
		st.RX = s.rx.Len()
	}
	s.exit()
	return st
}

// Stats reads the kernel's counters for the socket (XDP_STATISTICS).
func (s *Socket) Stats() (Stats, error) {
	if !s.enter() {
		return Stats{}, ErrClosed
	}
	defer s.exit()
	k, err := internal.Statistics(s.fd)
	if err != nil {
		return Stats{}, fmt.Errorf("queue %d: %w", s.queue, err)
	}
	return Stats{
		RxDropped:            k.Rx_dropped,
		RxInvalidDescs:       k.Rx_invalid_descs,
		TxInvalidDescs:       k.Tx_invalid_descs,
		RxRingFull:           k.Rx_ring_full,
		RxFillRingEmptyDescs: k.Rx_fill_ring_empty_descs,
		TxRingEmptyDescs:     k.Tx_ring_empty_descs,
	}, nil
}

// Close wakes a pending Wait, waits for calls in progress to return, then
// unmaps the rings (and the UMEM, when no other socket shares it) and
// closes the socket. Closing again returns nil; other methods return
// ErrClosed or nothing afterwards.
func (s *Socket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	// A parked Wait sees closed when interrupted; one that sets its
	// deadline after this sees closed in its check before parking.
	s.poll.Interrupt()
	for s.users.Load() != 0 {
		time.Sleep(20 * time.Microsecond)
	}
	var errs []error
	for i, b := range s.rings {
		errs = append(errs, internal.Munmap(b))
		s.rings[i] = nil
	}
	// No call uses the fd any more: close it through its os.File, which
	// takes it off the netpoller first.
	if err := s.poll.Close(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, s.umem.put())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close queue %d: %w", s.queue, err)
	}
	return nil
}

// String names the socket for logs.
func (s *Socket) String() string {
	return fmt.Sprintf("xsk(ifindex %d queue %d %s)", s.ifindex, s.queue, s.mode)
}
