package lab

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// paddedCount is a per-member packet counter on its own cache line.
type paddedCount struct {
	n atomic.Uint64
	_ [56]byte
}

func loadCounts(c []paddedCount) []uint64 {
	out := make([]uint64, len(c))
	for i := range c {
		out[i] = c[i].n.Load()
	}
	return out
}

// socketOptions are the AF_XDP socket options of the rxdrop and xdpmux
// runs: deep rings (all UMEM frames on the fill ring, an
// rx ring half as deep), receive only.
func (h *harness) socketOptions() rxq.SocketOptions {
	o := rxq.DefaultSocketOptions()
	o.FrameSize = 2048
	o.NumFrames = h.cfg.NumFrames
	o.FillRingSize = h.cfg.NumFrames
	o.RXRingSize = max(h.cfg.NumFrames/2, 64)
	return o
}

// xskDrops adds the XDP_STATISTICS drop counters of st to m. In copy mode
// a frame lost for want of a fill-ring frame counts in RxDropped (and the
// event in RxFillRingEmptyDescs, not added: it would count twice).
func xskDrops(m map[string]uint64, st rxq.Stats) {
	m["xsk_rx_dropped"] += st.RxDropped
	m["xsk_rx_ring_full"] += st.RxRingFull
	m["xsk_rx_invalid_descs"] += st.RxInvalidDescs
}

// runXDP measures the XDP_DROP ceiling and raw AF_XDP rxdrop: the XDP
// program claims the port; in drop mode it drops every claimed frame,
// otherwise it redirects them to one rxq.Socket per queue, each drained by
// a goroutine that reads each frame's first bytes and recycles it.
func (h *harness) runXDP() error {
	if h.skip(SystemXDPDrop) && h.skip(SystemRxdrop) {
		return nil
	}
	if err := h.portFree(); err != nil {
		return err
	}
	opts := h.socketOptions()
	var prog *xdpprog.Program
	socks := make([]*rxq.Socket, Queues)
	closeAll := func() error {
		var errs []error
		for _, s := range socks {
			if s != nil {
				errs = append(errs, s.Close())
			}
		}
		if prog != nil {
			errs = append(errs, prog.Close())
		}
		return errors.Join(errs...)
	}
	err := h.lab.InRecv(func() error {
		var err error
		if prog, err = xdpprog.Attach(h.lab.RecvIndex, xdpprog.Options{DropClaimed: true}); err != nil {
			return err
		}
		if err := prog.Claim(xdpprog.ProtoUDP, h.lab.RecvAddr, h.cfg.Port); err != nil {
			return err
		}
		for q := range socks {
			if socks[q], err = rxq.OpenQueue(h.lab.RecvIf, q, &opts); err != nil {
				return err
			}
			if err := prog.Register(q, socks[q].FD()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return errors.Join(fmt.Errorf("setup: %w", err), closeAll())
	}
	h.rep.Setup.SocketMode = socks[0].Mode().String()

	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		count = make([]paddedCount, Queues)
		sink  atomic.Uint64
	)
	for q, s := range socks {
		wg.Go(func() {
			runtime.LockOSThread()
			descs := make([]rxq.Desc, ReadBatch)
			addrs := make([]uint64, ReadBatch)
			umem := s.UMEM()
			var acc uint64
			for !stop.Load() {
				n := s.Receive(descs)
				if n == 0 {
					if err := s.Wait(100 * time.Millisecond); err != nil {
						break
					}
					continue
				}
				for i, d := range descs[:n] {
					// Touch the frame: destination MAC and ethertype.
					acc += uint64(umem[d.Addr]) + uint64(umem[d.Addr+12])
					addrs[i] = d.Addr
				}
				s.Recycle(addrs[:n])
				count[q].n.Add(uint64(n))
			}
			sink.Add(acc)
		})
	}
	stopReceivers := func() {
		stop.Store(true)
		for _, s := range socks {
			s.Wake()
		}
		wg.Wait()
	}

	dropCounters := func() ([]uint64, map[string]uint64, error) {
		cs, err := prog.Counters()
		if err != nil {
			return nil, nil, err
		}
		per := make([]uint64, Queues)
		for _, c := range cs {
			if c.Queue < Queues {
				per[c.Queue] += c.Dropped
			}
		}
		return per, map[string]uint64{}, nil
	}
	rxdropCounters := func() ([]uint64, map[string]uint64, error) {
		drops := map[string]uint64{}
		for _, s := range socks {
			st, err := s.Stats()
			if err != nil {
				return nil, nil, err
			}
			xskDrops(drops, st)
		}
		return loadCounts(count), drops, nil
	}

	var errs []error
	for _, ld := range h.loads() {
		if !h.skip(SystemXDPDrop) {
			if err := prog.SetDropClaimed(true); err != nil {
				errs = append(errs, err)
				break
			}
			if _, err := h.measure(SystemXDPDrop, Queues, ld, "", dropCounters); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", SystemXDPDrop, ld.name, err))
			}
		}
		if !h.skip(SystemRxdrop) {
			if err := prog.SetDropClaimed(false); err != nil {
				errs = append(errs, err)
				break
			}
			if _, err := h.measure(SystemRxdrop, Queues, ld, "", rxdropCounters); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", SystemRxdrop, ld.name, err))
			}
		}
	}
	stopReceivers()
	for q, s := range socks {
		if fs := s.FrameStats(); fs.Fill+fs.RX+fs.Free != fs.Total {
			errs = append(errs, fmt.Errorf("queue %d: frames do not add up: %+v", q, fs))
		}
	}
	errs = append(errs, closeAll())
	return errors.Join(errs...)
}
