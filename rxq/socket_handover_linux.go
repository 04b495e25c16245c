package rxq

import (
	"fmt"

	"github.com/xdpmux/xdpmux/rxq/internal"
)

// The takeover side of a Socket: one process hands a bound socket, with
// its rings and UMEM, to another (xdpmux run -takeover), which adopts it.
// Nothing is closed or re-bound in between, so the kernel keeps receiving
// into the fill ring, and frames on the rx ring at the hand-over are read
// by the adopting process.

// SocketState is what an adopting process needs besides the socket's and
// the UMEM's file descriptors (FD and UMEMFD): the layout of the UMEM and
// the rings, and the socket's free frames. The frames on the fill ring,
// on the rx ring and in the kernel between the two belong to the rings,
// whose indices live in the shared mappings.
type SocketState struct {
	Ifindex            int  `json:"ifindex"`
	Queue              int  `json:"queue"`
	Mode               Mode `json:"mode"`
	FrameSize          int  `json:"frame_size"`
	NumFrames          int  `json:"num_frames"`
	FillRingSize       int  `json:"fill_ring_size"`
	CompletionRingSize int  `json:"completion_ring_size"`
	RXRingSize         int  `json:"rx_ring_size"`
	NeedWakeup         bool `json:"need_wakeup"`
	BusyPoll           bool `json:"busy_poll"`
	// KernelBusyPoll: the socket has kernel busy-poll options
	// (SocketOptions.PreferBusyPoll...), which stay on the descriptor.
	KernelBusyPoll bool     `json:"kernel_busy_poll,omitempty"`
	Free           []uint64 `json:"free"` // the free list, bottom first
}

// UMEMFD is the file descriptor of the memory file behind the socket's
// UMEM, to hand over with FD; -1 for a socket sharing another's UMEM.
func (s *Socket) UMEMFD() int { return s.umem.fd }

// Handover describes the socket for AdoptSocket in another process, which
// is then given FD and UMEMFD (over SCM_RIGHTS). The socket must be at
// rest: its worker stopped, every frame it lent back in it (on the free
// list or a ring). Only a receive-only socket that owns its UMEM can be
// handed over; otherwise the error wraps ErrNotSupported. After a
// successful hand-over the adopting process owns the rings: this process
// must not call the worker's methods again, only Close (which unmaps and
// closes this process's descriptors; the socket lives on in the other).
func (s *Socket) Handover() (SocketState, error) {
	if !s.enter() {
		return SocketState{}, ErrClosed
	}
	defer s.exit()
	switch {
	case s.tx != nil:
		return SocketState{}, fmt.Errorf("hand over queue %d: a socket with a TX ring: %w", s.queue, ErrNotSupported)
	case s.rx == nil:
		return SocketState{}, fmt.Errorf("hand over queue %d: a socket without an RX ring: %w", s.queue, ErrNotSupported)
	case s.umem.fd < 0 || s.total != len(s.mem)/int(s.frameSize):
		return SocketState{}, fmt.Errorf("hand over queue %d: a socket sharing a UMEM: %w", s.queue, ErrNotSupported)
	}
	return SocketState{
		Ifindex:            s.ifindex,
		Queue:              s.queue,
		Mode:               s.mode,
		FrameSize:          int(s.frameSize),
		NumFrames:          s.total,
		FillRingSize:       s.fill.Size(),
		CompletionRingSize: s.comp.Size(),
		RXRingSize:         s.rx.Size(),
		NeedWakeup:         s.wakeup,
		BusyPoll:           s.busyPoll,
		KernelBusyPoll:     s.kbusy,
		Free:               append([]uint64(nil), s.alloc.free...),
	}, nil
}

// AdoptSocket builds a Socket over a bound AF_XDP socket handed over by
// another process (Socket.Handover): xskFD is the socket, umemFD the
// memory file of its UMEM. It maps the UMEM and the rings again and
// resumes where their shared indices stand: frames already on the rx ring
// are received by the next Receive. It takes both descriptors, closing
// them on error too. The socket stays in whatever XSKMAP it was entered in.
func AdoptSocket(st SocketState, xskFD, umemFD int) (_ *Socket, err error) {
	if xskFD < 0 || umemFD < 0 {
		internal.Close(xskFD)
		internal.Close(umemFD)
		return nil, fmt.Errorf("adopt queue %d: bad descriptors %d, %d: %w", st.Queue, xskFD, umemFD, ErrBadOption)
	}
	s := &Socket{fd: xskFD, ifindex: st.Ifindex, queue: st.Queue, mode: st.Mode,
		frameSize: uint32(st.FrameSize), busyPoll: st.BusyPoll, kbusy: st.KernelBusyPoll, wakeup: st.NeedWakeup}
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
		} else {
			internal.Close(umemFD)
		}
	}()
	o := SocketOptions{NumFrames: st.NumFrames, FrameSize: st.FrameSize, FillRingSize: st.FillRingSize,
		CompletionRingSize: st.CompletionRingSize, RXRingSize: st.RXRingSize}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("adopt queue %d: %w", st.Queue, err)
	}
	if st.RXRingSize == 0 {
		return nil, fmt.Errorf("adopt queue %d: no RX ring: %w", st.Queue, ErrNotSupported)
	}
	mem, err := internal.MmapUMEMFile(umemFD, st.NumFrames*st.FrameSize)
	if err != nil {
		return nil, fmt.Errorf("adopt queue %d: %w", st.Queue, err)
	}
	s.umem = &umemArea{refs: 1, mem: mem, fd: umemFD}
	s.mem = mem
	s.total = st.NumFrames
	s.alloc = NewFrameAllocator(uint64(len(mem)), s.frameSize, st.NumFrames)
	for _, a := range st.Free {
		if !s.alloc.Free(a) {
			return nil, fmt.Errorf("adopt queue %d: free frame %#x: %w", st.Queue, a, ErrBadOption)
		}
	}
	if err := s.mapRings(st.FillRingSize, st.CompletionRingSize, st.RXRingSize, 0); err != nil {
		return nil, fmt.Errorf("adopt queue %d: %w", st.Queue, err)
	}
	if n := s.fill.Len() + s.rx.Len() + s.alloc.Len(); n > s.total {
		return nil, fmt.Errorf("adopt queue %d: %d frames in the rings and free list, UMEM has %d: %w",
			st.Queue, n, s.total, ErrBadOption)
	}
	if s.poll, err = internal.NewPoller(s.fd, "xsk"); err != nil {
		s.fd = -1
		return nil, fmt.Errorf("adopt queue %d: %w", st.Queue, err)
	}
	s.ready = s.readyToWake
	return s, nil
}
