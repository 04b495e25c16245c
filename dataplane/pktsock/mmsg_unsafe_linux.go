package pktsock

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MsgBatch is a reusable array of mmsghdr for sendmmsg(2), one message of
// one buffer each. Build it once; the buffers' contents may change between
// sends, their addresses and lengths may not.
type MsgBatch struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	bufs [][]byte // keeps the buffers reachable
}

// NewMsgBatch builds the headers for bufs (each non-empty).
func NewMsgBatch(bufs [][]byte) *MsgBatch {
	b := &MsgBatch{
		hdrs: make([]unix.Mmsghdr, len(bufs)),
		iovs: make([]unix.Iovec, len(bufs)),
		bufs: bufs,
	}
	for i, buf := range bufs {
		b.iovs[i].Base = unsafe.SliceData(buf)
		b.iovs[i].SetLen(len(buf))
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
	return b
}

// Len is the number of messages in the batch.
func (b *MsgBatch) Len() int { return len(b.hdrs) }

// SendBatch sends messages [from, to) of b and returns how many the kernel
// took (sendmmsg(2)). As sendmmsg, it fails only when the first message
// fails; the error is then the bare unix.Errno (not wrapped, so that the
// hot path allocates nothing), or os.ErrClosed after Close.
func (s *Socket) SendBatch(b *MsgBatch, from, to int) (int, error) {
	if from >= to {
		return 0, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return 0, os.ErrClosed
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd),
		uintptr(unsafe.Pointer(&b.hdrs[from])), uintptr(to-from), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
