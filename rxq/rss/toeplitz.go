package rss

import (
	"errors"
	"fmt"
	"math/bits"
)

// KeySize is the length of a Toeplitz key in bytes: 320 bits are enough to
// hash MaxHashInput bytes (288 input bits + a 32-bit window).
const KeySize = 40

// MaxHashInput is the longest input, in bytes, that Hash takes into account:
// IPv6 source and destination addresses (32) and TCP/UDP ports (4).
const MaxHashInput = 36

// DefaultKey is Microsoft's RSS verification key, which most NIC drivers also
// use as their default.
var DefaultKey = [KeySize]byte{
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
	0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
	0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
}

// ErrKeyTooShort is returned (wrapped) by NewToeplitz for a key shorter
// than KeySize bytes.
var ErrKeyTooShort = errors.New("toeplitz key shorter than 40 bytes")

// Toeplitz computes the Toeplitz (RSS) hash for one key. It holds one
// 256-entry table per input byte position: table[i][b] is what byte value b
// at input position i XORs into the hash. Hashing is then one table lookup
// and one XOR per input byte, with no per-bit loop.
//
// A Toeplitz is immutable after NewToeplitz and safe for concurrent use; the
// workers of all queues may share one.
type Toeplitz struct {
	table [MaxHashInput][256]uint32
}

// NewToeplitz precomputes the tables for key. key must be at least KeySize
// bytes long; bytes after the first KeySize are never reached by inputs of at
// most MaxHashInput bytes and are ignored.
func NewToeplitz(key []byte) (*Toeplitz, error) {
	if len(key) < KeySize {
		return nil, fmt.Errorf("toeplitz key of %d bytes: %w", len(key), ErrKeyTooShort)
	}
	t := new(Toeplitz)
	for i := range MaxHashInput {
		// The 32-bit key window for each bit of input byte i, MSB first.
		var win [8]uint32
		for j := range 8 {
			win[j] = keyWindow(key, 8*i+j)
		}
		// The hash is linear: b's entry is the entry of b without its
		// lowest set bit, XOR that bit's window.
		for b := 1; b < 256; b++ {
			low := bits.TrailingZeros8(uint8(b))
			t.table[i][b] = t.table[i][b&(b-1)] ^ win[7-low]
		}
	}
	return t, nil
}

// keyWindow returns the 32 bits of key starting at bit offset off (bit 0 is
// the MSB of key[0]). Bits past the end of key read as zero.
func keyWindow(key []byte, off int) uint32 {
	var w uint64
	byteOff := off / 8
	for k := range 5 {
		w <<= 8
		if byteOff+k < len(key) {
			w |= uint64(key[byteOff+k])
		}
	}
	return uint32(w >> (8 - off%8))
}

// Hash returns the Toeplitz hash of input. Only the first MaxHashInput bytes
// of input are used; the rest is ignored. Hash never panics.
func (t *Toeplitz) Hash(input []byte) uint32 {
	if len(input) > MaxHashInput {
		input = input[:MaxHashInput]
	}
	tb := t.table[:len(input)]
	var h uint32
	for i, b := range input {
		h ^= tb[i][b]
	}
	return h
}

// HashV4 returns the hash of an IPv4 packet straight from its header bytes.
// addrs is source then destination address, as at offset 12 of the IPv4
// header (only addrs[:8] is used). ports is source then destination port, as
// at offset 0 of the TCP/UDP header (only ports[:4] is used); a ports slice
// shorter than 4 bytes, such as nil, gives the address-only hash. If addrs is
// shorter than 8 bytes, HashV4 returns 0; it never panics.
func (t *Toeplitz) HashV4(addrs, ports []byte) uint32 {
	if len(addrs) < 8 {
		return 0
	}
	a := addrs[:8]
	tb := &t.table
	h := tb[0][a[0]] ^ tb[1][a[1]] ^ tb[2][a[2]] ^ tb[3][a[3]] ^
		tb[4][a[4]] ^ tb[5][a[5]] ^ tb[6][a[6]] ^ tb[7][a[7]]
	if len(ports) >= 4 {
		p := ports[:4]
		h ^= tb[8][p[0]] ^ tb[9][p[1]] ^ tb[10][p[2]] ^ tb[11][p[3]]
	}
	return h
}

// HashV6 returns the hash of an IPv6 packet straight from its header bytes.
// addrs is source then destination address, as at offset 8 of the IPv6
// header (only addrs[:32] is used). ports is as for HashV4. If addrs is
// shorter than 32 bytes, HashV6 returns 0; it never panics.
func (t *Toeplitz) HashV6(addrs, ports []byte) uint32 {
	if len(addrs) < 32 {
		return 0
	}
	a := addrs[:32]
	tb := &t.table
	h0 := tb[0][a[0]] ^ tb[1][a[1]] ^ tb[2][a[2]] ^ tb[3][a[3]] ^
		tb[4][a[4]] ^ tb[5][a[5]] ^ tb[6][a[6]] ^ tb[7][a[7]]
	h1 := tb[8][a[8]] ^ tb[9][a[9]] ^ tb[10][a[10]] ^ tb[11][a[11]] ^
		tb[12][a[12]] ^ tb[13][a[13]] ^ tb[14][a[14]] ^ tb[15][a[15]]
	h2 := tb[16][a[16]] ^ tb[17][a[17]] ^ tb[18][a[18]] ^ tb[19][a[19]] ^
		tb[20][a[20]] ^ tb[21][a[21]] ^ tb[22][a[22]] ^ tb[23][a[23]]
	h3 := tb[24][a[24]] ^ tb[25][a[25]] ^ tb[26][a[26]] ^ tb[27][a[27]] ^
		tb[28][a[28]] ^ tb[29][a[29]] ^ tb[30][a[30]] ^ tb[31][a[31]]
	h := (h0 ^ h1) ^ (h2 ^ h3)
	if len(ports) >= 4 {
		p := ports[:4]
		h ^= tb[32][p[0]] ^ tb[33][p[1]] ^ tb[34][p[2]] ^ tb[35][p[3]]
	}
	return h
}

// ReferenceHash is the Toeplitz hash computed bit by bit, as in Microsoft's
// RSS specification: for every set bit of input, XOR in the 32 key bits that
// start at that bit's position. Key bits past the end of key read as zero.
// It is slow and meant for tests; inputs and keys may have any length.
func ReferenceHash(key, input []byte) uint32 {
	var h uint32
	for i, b := range input {
		for j := range 8 {
			if b&(0x80>>j) != 0 {
				h ^= keyWindow(key, 8*i+j)
			}
		}
	}
	return h
}
