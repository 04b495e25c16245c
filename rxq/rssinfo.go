package rxq

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The NIC's RSS configuration, as ethtool's netlink interface reports it
// (ETHTOOL_MSG_RSS_GET, `ethtool -x IF`): the hash function, the key and
// the indirection table. The software Toeplitz hash can then use the NIC's
// key, so that the queue bits of the hash are the ones the NIC used (SPEC
// section 2, docs/HASH.md).

// RSS hash functions (ETH_RSS_HASH_* of linux/ethtool.h): bits of
// RSSInfo.HashFunc.
const (
	RSSHashToeplitz = 1 << 0 // ETH_RSS_HASH_TOP
	RSSHashXOR      = 1 << 1 // ETH_RSS_HASH_XOR
	RSSHashCRC32    = 1 << 2 // ETH_RSS_HASH_CRC32
)

// ErrBadRSSReply is returned (wrapped) for an RSS_GET reply that does not
// parse: an attribute running past the message, an indirection table
// whose length is not a multiple of 4.
var ErrBadRSSReply = errors.New("malformed ethtool RSS reply")

// RSSInfo is an interface's RSS configuration.
type RSSInfo struct {
	// HashFunc is the active hash function (RSSHash* bits); 0 when the
	// driver did not say.
	HashFunc uint32
	// Key is the hash key; nil when the driver did not report one.
	Key []byte
	// Indir is the indirection table: the queue of each entry; nil when
	// the driver did not report one.
	Indir []uint32
}

// Toeplitz reports whether the NIC hashes with Toeplitz.
func (r *RSSInfo) Toeplitz() bool { return r.HashFunc&RSSHashToeplitz != 0 }

// IndirDefault reports whether the indirection table is the kernel's
// default for queues receive queues (ethtool_rxfh_indir_default: entry i
// is i mod queues), the table simulated RSS assumes (SPEC section 2). An
// empty table is not the default.
func (r *RSSInfo) IndirDefault(queues int) bool {
	if len(r.Indir) == 0 || queues < 1 {
		return false
	}
	for i, q := range r.Indir {
		if q != uint32(i%queues) {
			return false
		}
	}
	return true
}

// IndirQueues is the number of queues the indirection table spreads over:
// its largest entry + 1 (0 for no table).
func (r *RSSInfo) IndirQueues() int {
	n := 0
	for _, q := range r.Indir {
		if int(q) >= n {
			n = int(q) + 1
		}
	}
	return n
}

// Attributes of ETHTOOL_MSG_RSS_GET_REPLY (enum ETHTOOL_A_RSS_*).
const (
	ethtoolARSSHeader = 1
	ethtoolARSSHFunc  = 3
	ethtoolARSSIndir  = 4
	ethtoolARSSHKey   = 5
	nlaTypeMask       = 0x3fff // ^(NLA_F_NESTED | NLA_F_NET_BYTEORDER)
	genlHdrLen        = 4
	// rssMaxIndir bounds the table parsed (ETH_RXFH_INDIR_NO_CHANGE-free
	// tables are at most a few thousand entries).
	rssMaxIndir = 1 << 16
)

// ParseRSSReply decodes one ETHTOOL_MSG_RSS_GET_REPLY message: b starts
// at the generic netlink header (after struct nlmsghdr). Every length is
// checked against b; unknown attributes are skipped; the values are
// copied, so b may be reused. The header and numbers are in host byte
// order, as the kernel sends them.
func ParseRSSReply(b []byte) (RSSInfo, error) {
	var r RSSInfo
	err := walkGenlAttrs(b, func(typ uint16, v []byte) error {
		switch typ {
		case ethtoolARSSHFunc:
			if len(v) != 4 {
				return fmt.Errorf("%w: hfunc of %d bytes", ErrBadRSSReply, len(v))
			}
			r.HashFunc = binary.NativeEndian.Uint32(v)
		case ethtoolARSSIndir:
			if len(v)%4 != 0 || len(v)/4 > rssMaxIndir {
				return fmt.Errorf("%w: indirection table of %d bytes", ErrBadRSSReply, len(v))
			}
			r.Indir = make([]uint32, len(v)/4)
			for i := range r.Indir {
				r.Indir[i] = binary.NativeEndian.Uint32(v[4*i:])
			}
		case ethtoolARSSHKey:
			r.Key = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return RSSInfo{}, err
	}
	return r, nil
}

// Attributes of the generic netlink controller's reply (enum CTRL_ATTR_*).
const ctrlAttrFamilyID = 1

// parseFamilyID decodes a CTRL_CMD_GETFAMILY reply (b starts at the
// generic netlink header) into the family's ID.
func parseFamilyID(b []byte) (uint16, error) {
	var id uint16
	err := walkGenlAttrs(b, func(typ uint16, v []byte) error {
		if typ == ctrlAttrFamilyID {
			if len(v) != 2 {
				return fmt.Errorf("%w: family ID of %d bytes", ErrBadRSSReply, len(v))
			}
			id = binary.NativeEndian.Uint16(v)
		}
		return nil
	})
	switch {
	case err != nil:
		return 0, err
	case id == 0:
		return 0, fmt.Errorf("%w: no family ID", ErrBadRSSReply)
	}
	return id, nil
}

// walkGenlAttrs calls fn with each top-level attribute of a generic
// netlink message b (starting at its genetlink header): every length is
// checked against b, fn's values are views of b. It stops at fn's first
// error.
func walkGenlAttrs(b []byte, fn func(typ uint16, v []byte) error) error {
	if len(b) < genlHdrLen {
		return fmt.Errorf("%w: %d bytes, no genetlink header", ErrBadRSSReply, len(b))
	}
	b = b[genlHdrLen:]
	for len(b) > 0 {
		if len(b) < 4 {
			return fmt.Errorf("%w: %d trailing bytes", ErrBadRSSReply, len(b))
		}
		alen := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if alen < 4 || alen > len(b) {
			return fmt.Errorf("%w: attribute %d of length %d in %d bytes", ErrBadRSSReply, typ, alen, len(b))
		}
		if err := fn(typ, b[4:alen]); err != nil {
			return err
		}
		// Attributes are padded to 4 bytes; the last one may end the
		// message without its padding.
		b = b[min((alen+3)&^3, len(b)):]
	}
	return nil
}
