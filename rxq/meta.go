package rxq

import "encoding/binary"

// The XDP metadata the xdpmux_nichash program (package xdpprog) writes in
// front of each packet, struct nic_meta in xdpprog/bpf/xdpmux.c: the hash
// the NIC computed, and a flag word. AF_XDP copies the metadata into the
// UMEM just before the frame, so it lies at UMEM[addr-MetaSize : addr] of
// the frame's descriptor. Both words are in host byte order.
const (
	// MetaSize is the size of the metadata.
	MetaSize = 8
	// MetaValid is set in NICHash.Flags when the driver gave a hash.
	MetaValid = 1
	// MetaMagic marks metadata the program wrote (the flag word's high 16
	// bits): other bytes before a frame are not taken for a hash.
	MetaMagic     = 0x786d0000
	metaMagicMask = 0xffff0000
	metaRSSShift  = 1
	metaRSSMask   = 0x7fff
)

// NICHash is one frame's metadata as xdpmux_nichash wrote it.
type NICHash struct {
	Hash  uint32 // the NIC's RSS hash; 0 unless Valid
	Flags uint32 // MetaMagic | MetaValid | the RSS type << 1
}

// Valid reports whether the driver gave a hash for the frame: the
// metadata carries the magic and the valid flag.
func (h NICHash) Valid() bool {
	return h.Flags&(metaMagicMask|MetaValid) == MetaMagic|MetaValid
}

// RSSType is the driver's enum xdp_rss_hash_type for the hash (which
// headers it covered: bit 0 IPv4, 1 IPv6, 3 L4, 4 TCP, 5 UDP, ...).
func (h NICHash) RSSType() uint32 { return h.Flags >> metaRSSShift & metaRSSMask }

// ReadMeta returns the metadata before the frame at addr in umem, and
// clears it, so that a later frame in the same UMEM frame never finds a
// stale one (the kernel copies metadata only when the program wrote
// some). It returns the zero NICHash, which is not Valid, when the 8 bytes
// before addr are not inside umem or do not carry MetaMagic. It does not
// allocate.
func ReadMeta(umem []byte, addr uint64) NICHash {
	if addr < MetaSize || addr > uint64(len(umem)) {
		return NICHash{}
	}
	m := umem[addr-MetaSize : addr : addr]
	h := NICHash{Hash: binary.NativeEndian.Uint32(m[0:4]), Flags: binary.NativeEndian.Uint32(m[4:8])}
	if h.Flags&metaMagicMask != MetaMagic {
		return NICHash{}
	}
	binary.NativeEndian.PutUint64(m, 0)
	return h
}

// PutMeta writes h as the metadata before the frame at addr, as the XDP
// program does; for test sources (rxqtest) and tools. It reports false,
// writing nothing, when the 8 bytes before addr are not inside umem.
func PutMeta(umem []byte, addr uint64, h NICHash) bool {
	if addr < MetaSize || addr > uint64(len(umem)) {
		return false
	}
	m := umem[addr-MetaSize : addr : addr]
	binary.NativeEndian.PutUint32(m[0:4], h.Hash)
	binary.NativeEndian.PutUint32(m[4:8], h.Flags)
	return true
}
