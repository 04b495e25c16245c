package sys

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PacketSocket opens a send-only AF_PACKET SOCK_RAW socket bound to the
// device ifindex: protocol 0, so the kernel delivers it no received frame.
// With qdiscBypass, frames skip the device's queueing discipline
// (PACKET_QDISC_BYPASS). sndTimeout bounds a blocking send (SO_SNDTIMEO);
// sndBuf, when positive, sets SO_SNDBUF (SO_SNDBUFFORCE when permitted).
func PacketSocket(ifindex int, qdiscBypass bool, sndTimeout time.Duration, sndBuf int) (_ int, err error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket AF_PACKET", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	if qdiscBypass {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return -1, os.NewSyscallError("setsockopt PACKET_QDISC_BYPASS", err)
		}
	}
	if sndTimeout > 0 {
		tv := unix.NsecToTimeval(sndTimeout.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
			return -1, os.NewSyscallError("setsockopt SO_SNDTIMEO", err)
		}
	}
	if sndBuf > 0 {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBuf) != nil {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndBuf); err != nil {
				return -1, os.NewSyscallError("setsockopt SO_SNDBUF", err)
			}
		}
	}
	// Protocol 0 in the bind address too: bound to the device for
	// sending, still receiving nothing.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		return -1, os.NewSyscallError("bind AF_PACKET", err)
	}
	return fd, nil
}

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

// Sendmmsg sends messages [from, to) of b on fd and returns how many the
// kernel took. As sendmmsg(2), it fails only when the first message fails;
// the error is then the bare unix.Errno (not wrapped, so that the hot path
// allocates nothing).
func Sendmmsg(fd int, b *MsgBatch, from, to int) (int, error) {
	if from >= to {
		return 0, nil
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
		uintptr(unsafe.Pointer(&b.hdrs[from])), uintptr(to-from), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
