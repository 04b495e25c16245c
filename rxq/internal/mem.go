package internal

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// atomic.Uint32 must be the bare word: Uint32At overlays it on the ring.
var _ [4 - unsafe.Sizeof(atomic.Uint32{})]struct{}
var _ [unsafe.Sizeof(atomic.Uint32{}) - 4]struct{}

// Uint32At returns the 32-bit word at offset off of b, typed as an
// atomic.Uint32 so that no plain read or write of a word shared with the
// kernel can compile (gVisor pkg/xdp). The word must lie inside b and be
// 4-byte aligned.
func Uint32At(b []byte, off uint64) (*atomic.Uint32, error) {
	if off+4 > uint64(len(b)) {
		return nil, fmt.Errorf("ring word at offset %d beyond %d-byte mapping", off, len(b))
	}
	p := unsafe.Pointer(&b[off])
	if uintptr(p)%4 != 0 {
		return nil, fmt.Errorf("ring word at offset %d not 4-byte aligned", off)
	}
	return (*atomic.Uint32)(p), nil
}

// SliceAt returns n values of type T laid out from offset off of b. They
// must lie inside b and be aligned for T.
func SliceAt[T any](b []byte, off uint64, n uint32) ([]T, error) {
	var z T
	size := uint64(unsafe.Sizeof(z)) * uint64(n)
	if off+size > uint64(len(b)) || n == 0 {
		return nil, fmt.Errorf("ring of %d entries at offset %d beyond %d-byte mapping", n, off, len(b))
	}
	p := unsafe.Pointer(&b[off])
	if uintptr(p)%unsafe.Alignof(z) != 0 {
		return nil, fmt.Errorf("ring entries at offset %d misaligned", off)
	}
	return unsafe.Slice((*T)(p), n), nil
}

// AlignedBytes returns n zeroed bytes aligned to 64 bytes (for rings in
// ordinary memory, in tests and in-memory sources).
func AlignedBytes(n int) []byte {
	w := make([]uint64, (n+127)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8)
	skip := (64 - int(uintptr(unsafe.Pointer(&b[0]))%64)) % 64
	return b[skip : skip+n : skip+n]
}
