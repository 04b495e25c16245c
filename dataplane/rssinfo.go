package dataplane

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rss"
)

// RSSStatus is what OpenInterface learnt of the interface's RSS
// configuration (rxq.ReadRSS) and what it did with it
// (InterfaceInfo.RSS, stats info.interface.rss; docs/HASH.md).
type RSSStatus struct {
	// Available: the interface reported its RSS configuration.
	Available bool `json:"available"`
	// HashFunc is the NIC's hash function: "toeplitz", "xor", "crc32",
	// "" when not reported, or the bits in hex.
	HashFunc string `json:"hfunc,omitempty"`
	// KeyLen is the length of the key the NIC reported (0: none);
	// KeyDefault says whether it is rss.DefaultKey.
	KeyLen     int  `json:"key_len"`
	KeyDefault bool `json:"key_default"`
	// IndirSize is the indirection table's size (0: none reported);
	// IndirDefault says whether entry i is i mod the receive queue count,
	// as simulated RSS assumes; Queues is how many queues it spreads over.
	IndirSize    int  `json:"indir_size"`
	IndirDefault bool `json:"indir_default"`
	Queues       int  `json:"queues"`
	// NICKey: the software Toeplitz hash uses the key the NIC reported
	// (Config.Key was not set, the NIC hashes with Toeplitz and reported a
	// key of at least 40 bytes).
	NICKey bool `json:"nic_key"`
	// Note says what differs from the defaults, or why there is nothing.
	Note string `json:"note,omitempty"`
}

// rssStatus describes info (or err, from rxq.ReadRSS) for an interface of
// rxQueues receive queues; key is non-nil when the software hash is to use
// the NIC's key.
func rssStatus(info rxq.RSSInfo, err error, rxQueues int, keySet bool) (st RSSStatus, key []byte) {
	if err != nil {
		if errors.Is(err, rxq.ErrNotSupported) {
			st.Note = "no RSS (the driver reports none): software Toeplitz with the default key, simulated table"
		} else {
			st.Note = fmt.Sprintf("RSS unknown (%v)", err)
		}
		return st, nil
	}
	st.Available = true
	switch info.HashFunc {
	case 0:
	case rxq.RSSHashToeplitz:
		st.HashFunc = "toeplitz"
	case rxq.RSSHashXOR:
		st.HashFunc = "xor"
	case rxq.RSSHashCRC32:
		st.HashFunc = "crc32"
	default:
		st.HashFunc = fmt.Sprintf("%#x", info.HashFunc)
	}
	st.KeyLen = len(info.Key)
	st.KeyDefault = len(info.Key) >= len(rss.DefaultKey) && bytes.Equal(info.Key[:len(rss.DefaultKey)], rss.DefaultKey[:])
	st.IndirSize = len(info.Indir)
	st.IndirDefault = info.IndirDefault(rxQueues)
	st.Queues = info.IndirQueues()
	var notes []string
	switch {
	case info.Toeplitz() && len(info.Key) >= len(rss.DefaultKey) && !keySet:
		st.NICKey, key = true, info.Key
		if !st.KeyDefault {
			notes = append(notes, "the NIC's key differs from the default: the software hash uses the NIC's key")
		}
	case len(info.Key) > 0 && !st.KeyDefault:
		notes = append(notes, "the NIC's key differs from the default and is not used (Config.Key set, or not Toeplitz)")
	}
	if info.HashFunc != 0 && !info.Toeplitz() {
		notes = append(notes, "the NIC does not hash with Toeplitz ("+st.HashFunc+"): the software hash is not the NIC's")
	}
	if len(info.Key) == 0 {
		notes = append(notes, "the NIC reports no key")
	}
	if len(info.Indir) > 0 && !st.IndirDefault {
		notes = append(notes, fmt.Sprintf("the indirection table is not i mod %d: frames of one hash value reach other queues than simulated RSS says", rxQueues))
	}
	for i, n := range notes {
		if i > 0 {
			st.Note += "; "
		}
		st.Note += n
	}
	return st, key
}
