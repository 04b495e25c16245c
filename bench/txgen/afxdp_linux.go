package txgen

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/xdpmux/xdpmux/rxq"
)

// xdpFrames is the UMEM size of an AF_XDP sender, in frames. It equals the
// TX ring size, so a frame taken from the free list always finds a slot on
// the TX ring and the completion ring never overflows.
const xdpFrames = 2048

// xdpSender sends on one TX queue through an AF_XDP socket. Every UMEM
// frame holds the common frame from the start; sending stamps a free
// frame and queues its descriptor.
type xdpSender struct {
	s         *rxq.Socket
	umem      []byte
	size      uint32
	cur       *cursor
	descs     []rxq.Desc
	submitted uint64 // descriptors put on the TX ring
	completed uint64 // descriptors back from the completion ring
	invalid   uint64 // TxInvalidDescs already counted
}

func newXDPSender(ifindex, queue, size int, fr *frames, cur *cursor) (*xdpSender, error) {
	o := rxq.DefaultSocketOptions()
	switch {
	case size <= 2048:
		o.FrameSize = 2048
	case size <= 4096:
		o.FrameSize = 4096
	default:
		return nil, fmt.Errorf("frame size %d above an AF_XDP frame (4096): %w", size, ErrNotSupported)
	}
	o.NumFrames = xdpFrames
	o.TXRingSize = xdpFrames
	o.CompletionRingSize = xdpFrames
	o.FillRingSize = 64 // unused: no RX ring
	o.RXRingSize = 0
	s, err := rxq.NewSocket(ifindex, queue, &o)
	if err != nil {
		return nil, err
	}
	x := &xdpSender{s: s, umem: s.UMEM(), size: uint32(size), cur: cur,
		descs: make([]rxq.Desc, 0, rxq.BatchSize)}
	// Write the common frame into every frame once.
	addrs := make([]uint64, 0, xdpFrames)
	for {
		a, ok := s.AllocFrame()
		if !ok {
			break
		}
		copy(x.umem[a:a+uint64(size)], fr.base)
		addrs = append(addrs, a)
	}
	for _, a := range addrs {
		s.FreeFrame(a)
	}
	if len(addrs) == 0 {
		s.Close()
		return nil, fmt.Errorf("queue %d: no free UMEM frame", queue)
	}
	return x, nil
}

// reap takes completed frames back and returns how many.
func (x *xdpSender) reap(c *counters) int {
	n := x.s.Complete()
	if n > 0 {
		x.completed += uint64(n)
		c.sent.Add(uint64(n))
	}
	return n
}

func (x *xdpSender) run(stop *atomic.Bool, quota uint64, p *pacer, c *counters) error {
	start := x.submitted
	stopped := stop.Load
	for x.submitted-start < quota && !stop.Load() {
		x.reap(c)
		n := p.take(int(min(uint64(rxq.BatchSize), quota-(x.submitted-start))), stopped)
		if n == 0 {
			break
		}
		descs := x.descs[:0]
		for len(descs) < n {
			a, ok := x.s.AllocFrame()
			if !ok {
				break
			}
			x.cur.stampNext(x.umem[a : a+uint64(x.size)])
			descs = append(descs, rxq.Desc{Addr: a, Len: x.size})
		}
		p.giveBack(n - len(descs))
		if len(descs) == 0 {
			// Every frame is in flight: reap kicks the kernel.
			runtime.Gosched()
			continue
		}
		t := x.s.Transmit(descs)
		x.submitted += uint64(t)
		if t < len(descs) {
			// Cannot happen while the TX ring is as large as the UMEM;
			// the stamped sequence numbers are lost.
			for _, d := range descs[t:] {
				x.s.FreeFrame(d.Addr)
			}
			c.errors.Add(uint64(len(descs) - t))
		}
	}
	// Wait for the frames in flight.
	deadline := time.Now().Add(drainTimeout)
	for x.submitted > x.completed && time.Now().Before(deadline) {
		if x.reap(c) == 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	if lost := x.submitted - x.completed; lost > 0 {
		c.errors.Add(lost)
		x.completed = x.submitted
	}
	if st, err := x.s.Stats(); err == nil && st.TxInvalidDescs > x.invalid {
		c.errors.Add(st.TxInvalidDescs - x.invalid)
		x.invalid = st.TxInvalidDescs
	}
	return nil
}

func (x *xdpSender) close() error { return x.s.Close() }
