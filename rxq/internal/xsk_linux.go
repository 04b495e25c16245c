package internal

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket opens an AF_XDP socket.
func Socket() (int, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket AF_XDP", err)
	}
	return fd, nil
}

func setsockopt(fd, opt int, p unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt),
		uintptr(p), size, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockopt(fd, opt int, p unsafe.Pointer, size uintptr) (uintptr, error) {
	l := uint32(size)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt),
		uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	return uintptr(l), nil
}

// RegisterUMEM issues XDP_UMEM_REG for the area mem with frames of
// frameSize bytes and headroom bytes of user headroom.
func RegisterUMEM(fd int, mem []byte, frameSize, headroom uint32) error {
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))),
		Len:      uint64(len(mem)),
		Size:     frameSize,
		Headroom: headroom,
	}
	if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return os.NewSyscallError("setsockopt XDP_UMEM_REG", err)
	}
	return nil
}

// SetRingSize sets the number of entries of one ring (opt is one of
// XDP_RX_RING, XDP_TX_RING, XDP_UMEM_FILL_RING, XDP_UMEM_COMPLETION_RING).
func SetRingSize(fd, opt int, size uint32) error {
	v := int32(size)
	if err := setsockopt(fd, opt, unsafe.Pointer(&v), 4); err != nil {
		return os.NewSyscallError("setsockopt "+ringOptName(opt), err)
	}
	return nil
}

func ringOptName(opt int) string {
	switch opt {
	case unix.XDP_RX_RING:
		return "XDP_RX_RING"
	case unix.XDP_TX_RING:
		return "XDP_TX_RING"
	case unix.XDP_UMEM_FILL_RING:
		return "XDP_UMEM_FILL_RING"
	case unix.XDP_UMEM_COMPLETION_RING:
		return "XDP_UMEM_COMPLETION_RING"
	}
	return "XDP ring"
}

// MmapOffsets reads XDP_MMAP_OFFSETS.
func MmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	n, err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off))
	if err != nil {
		return off, os.NewSyscallError("getsockopt XDP_MMAP_OFFSETS", err)
	}
	if n != unsafe.Sizeof(off) {
		return off, os.NewSyscallError("getsockopt XDP_MMAP_OFFSETS", unix.EINVAL)
	}
	return off, nil
}

// Statistics reads XDP_STATISTICS.
func Statistics(fd int) (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	if _, err := getsockopt(fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
		return st, os.NewSyscallError("getsockopt XDP_STATISTICS", err)
	}
	return st, nil
}

// Options reads XDP_OPTIONS (XDP_OPTIONS_ZEROCOPY when bound in zero-copy
// mode).
func Options(fd int) (uint32, error) {
	var v uint32
	if _, err := getsockopt(fd, unix.XDP_OPTIONS, unsafe.Pointer(&v), 4); err != nil {
		return 0, os.NewSyscallError("getsockopt XDP_OPTIONS", err)
	}
	return v, nil
}

// Bind binds the socket to (ifindex, queue). sharedFD is the socket whose
// UMEM is shared when flags has XDP_SHARED_UMEM.
func Bind(fd, ifindex, queue int, flags uint16, sharedFD int) error {
	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	if flags&unix.XDP_SHARED_UMEM != 0 {
		sa.SharedUmemFD = uint32(sharedFD)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind AF_XDP", err)
	}
	return nil
}

// MemfdUMEM creates a memory file (memfd) of size bytes and maps it shared
// and pre-faulted, for a UMEM: another process given fd (over SCM_RIGHTS)
// maps the same pages with MmapUMEMFile, which is how a UMEM survives a
// takeover. The caller owns fd.
func MemfdUMEM(size int) (mem []byte, fd int, err error) {
	fd, err = unix.MemfdCreate("xdpmux-umem", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, -1, os.NewSyscallError("memfd_create UMEM", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, -1, os.NewSyscallError("ftruncate UMEM", err)
	}
	if mem, err = MmapUMEMFile(fd, size); err != nil {
		unix.Close(fd)
		return nil, -1, err
	}
	return mem, fd, nil
}

// MmapUMEMFile maps size bytes of the UMEM memory file fd, shared and
// pre-faulted. It does not take fd.
func MmapUMEMFile(fd, size int) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, os.NewSyscallError("fstat UMEM", err)
	}
	if st.Size < int64(size) {
		return nil, fmt.Errorf("UMEM file of %d bytes, want %d: %w", st.Size, size, unix.EINVAL)
	}
	b, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, os.NewSyscallError("mmap UMEM", err)
	}
	return b, nil
}

// MmapRing maps one ring of the socket fd at page offset pgoff
// (XDP_PGOFF_RX_RING, ...), size bytes long.
func MmapRing(fd int, pgoff int64, size int) ([]byte, error) {
	b, err := unix.Mmap(fd, pgoff, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, os.NewSyscallError("mmap XDP ring", err)
	}
	return b, nil
}

// Munmap unmaps b; a nil b is a no-op.
func Munmap(b []byte) error {
	if b == nil {
		return nil
	}
	if err := unix.Munmap(b); err != nil {
		return os.NewSyscallError("munmap", err)
	}
	return nil
}

// SetBusyPoll sets the socket's busy-poll options: SO_PREFER_BUSY_POLL
// (prefer), SO_BUSY_POLL (us, when > 0) and SO_BUSY_POLL_BUDGET (budget,
// when > 0).
func SetBusyPoll(fd int, prefer bool, us, budget int) error {
	if prefer {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PREFER_BUSY_POLL, 1); err != nil {
			return os.NewSyscallError("setsockopt SO_PREFER_BUSY_POLL", err)
		}
	}
	if us > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL, us); err != nil {
			return os.NewSyscallError("setsockopt SO_BUSY_POLL", err)
		}
	}
	if budget > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL_BUDGET, budget); err != nil {
			return os.NewSyscallError("setsockopt SO_BUSY_POLL_BUDGET", err)
		}
	}
	return nil
}

// BusyPoll reads SO_PREFER_BUSY_POLL and SO_BUSY_POLL back (the kernel
// has no getsockopt for SO_BUSY_POLL_BUDGET).
func BusyPoll(fd int) (prefer bool, us int, err error) {
	p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PREFER_BUSY_POLL)
	if err != nil {
		return false, 0, os.NewSyscallError("getsockopt SO_PREFER_BUSY_POLL", err)
	}
	if us, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL); err != nil {
		return false, 0, os.NewSyscallError("getsockopt SO_BUSY_POLL", err)
	}
	return p != 0, us, nil
}

// Kick tells the kernel there is work on the TX ring (sendto with
// MSG_DONTWAIT) or, with rx true, that the fill ring was refilled
// (recvfrom with MSG_DONTWAIT). The transient errors the kernel returns
// while it is busy are not errors here.
func Kick(fd int, rx bool) error {
	var e unix.Errno
	if rx {
		_, _, e = unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	} else {
		_, _, e = unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
	switch e {
	case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.ENETDOWN, unix.EINTR:
		return nil
	}
	if rx {
		return os.NewSyscallError("recvfrom", e)
	}
	return os.NewSyscallError("sendto", e)
}

// Close closes fd, ignoring negative fds.
func Close(fd int) error {
	if fd < 0 {
		return nil
	}
	return unix.Close(fd)
}
