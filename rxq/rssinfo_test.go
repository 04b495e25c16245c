package rxq

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// nlattr encodes one netlink attribute with its padding.
func nlattr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return b
}

// rssReply is a reply as the kernel builds it: genetlink header, the
// request header nest, hfunc, indir, hkey.
func rssReply(hfunc uint32, indir []uint32, key []byte) []byte {
	b := []byte{0x26, 1, 0, 0} // cmd RSS_GET_REPLY, version 1
	b = append(b, nlattr(ethtoolARSSHeader|0x8000, nlattr(2, []byte("eth0\x00")))...)
	b = append(b, nlattr(ethtoolARSSHFunc, u32s(hfunc))...)
	if indir != nil {
		b = append(b, nlattr(ethtoolARSSIndir, u32s(indir...))...)
	}
	if key != nil {
		b = append(b, nlattr(ethtoolARSSHKey, key)...)
	}
	b = append(b, nlattr(6, u32s(0))...) // INPUT_XFRM: skipped
	return b
}

func TestParseRSSReply(t *testing.T) {
	key := bytes.Repeat([]byte{0x6d, 0x5a}, 20)
	def4 := make([]uint32, 128)
	for i := range def4 {
		def4[i] = uint32(i % 4)
	}
	odd := slices.Clone(def4)
	odd[5] = 0
	good := rssReply(RSSHashToeplitz, def4, key)
	for _, tt := range []struct {
		name      string
		b         []byte
		err       bool
		toeplitz  bool
		indirDef4 bool
		queues    int
		keyLen    int
	}{
		{"default table", good, false, true, true, 4, 40},
		{"other table", rssReply(RSSHashToeplitz, odd, key), false, true, false, 4, 40},
		{"xor, no table, no key", rssReply(RSSHashXOR, nil, nil), false, false, false, 0, 0},
		{"header only", []byte{0x26, 1, 0, 0}, false, false, false, 0, 0},
		{"last attribute unpadded", append([]byte{0x26, 1, 0, 0}, nlattr(ethtoolARSSHKey, []byte{1, 2, 3})[:7]...), false, false, false, 0, 3},
		{"empty", nil, true, false, false, 0, 0},
		{"short genl header", []byte{0x26, 1}, true, false, false, 0, 0},
		{"truncated attribute", good[:len(good)-3], true, false, false, 0, 0},
		{"attribute too long", append([]byte{0x26, 1, 0, 0}, 0xff, 0x00, 3, 0, 1, 2, 3, 4), true, false, false, 0, 0},
		{"attribute too short", append([]byte{0x26, 1, 0, 0}, 2, 0, 3, 0), true, false, false, 0, 0},
		{"hfunc of 2 bytes", append([]byte{0x26, 1, 0, 0}, nlattr(ethtoolARSSHFunc, []byte{1, 0})...), true, false, false, 0, 0},
		{"indir not a multiple of 4", append([]byte{0x26, 1, 0, 0}, nlattr(ethtoolARSSIndir, []byte{1, 0, 0, 0, 1})...), true, false, false, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRSSReply(tt.b)
			if (err != nil) != tt.err {
				t.Fatalf("ParseRSSReply: error %v, want error %v", err, tt.err)
			}
			if err != nil {
				if !errors.Is(err, ErrBadRSSReply) {
					t.Errorf("error %v is not ErrBadRSSReply", err)
				}
				return
			}
			if r.Toeplitz() != tt.toeplitz || r.IndirDefault(4) != tt.indirDef4 || r.IndirQueues() != tt.queues || len(r.Key) != tt.keyLen {
				t.Errorf("got toeplitz %v, default(4) %v, queues %d, key %d bytes; want %v, %v, %d, %d",
					r.Toeplitz(), r.IndirDefault(4), r.IndirQueues(), len(r.Key), tt.toeplitz, tt.indirDef4, tt.queues, tt.keyLen)
			}
		})
	}
	// Values are copies.
	b := slices.Clone(good)
	r, err := ParseRSSReply(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if !bytes.Equal(r.Key, key) || !slices.Equal(r.Indir, def4) {
		t.Error("parsed values changed with the message buffer")
	}
	if r.IndirDefault(2) || r.IndirDefault(0) {
		t.Error("a 4-queue table is the default for 2 or 0 queues")
	}
}

// FuzzParseRSSReply: any bytes parse or fail with ErrBadRSSReply, without
// panicking, and a parsed table is bounded.
func FuzzParseRSSReply(f *testing.F) {
	f.Add(rssReply(RSSHashToeplitz, []uint32{0, 1, 0, 1}, []byte("0123456789012345678901234567890123456789")))
	f.Add(rssReply(RSSHashCRC32, nil, nil))
	f.Add([]byte{0x26, 1, 0, 0, 8, 0, 4, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRSSReply(b)
		if err != nil {
			if !errors.Is(err, ErrBadRSSReply) {
				t.Fatalf("error %v is not ErrBadRSSReply", err)
			}
			return
		}
		if len(r.Indir) > rssMaxIndir || len(r.Key) > len(b) {
			t.Fatalf("table %d entries, key %d bytes from %d bytes", len(r.Indir), len(r.Key), len(b))
		}
		r.IndirDefault(4)
		r.IndirQueues()
	})
}

func TestParseFamilyID(t *testing.T) {
	u16 := func(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
	hdr := []byte{1, 2, 0, 0} // CTRL_CMD_NEWFAMILY, version 2
	reply := func(attrs ...[]byte) []byte { return slices.Concat(append([][]byte{hdr}, attrs...)...) }
	for _, tc := range []struct {
		name string
		b    []byte
		want uint16 // 0: an error
	}{
		{"name then id", reply(nlattr(2, []byte("ethtool\x00")), nlattr(ctrlAttrFamilyID, u16(21)), nlattr(3, u32s(1))), 21},
		{"id alone", reply(nlattr(ctrlAttrFamilyID, u16(0x1d))), 0x1d},
		{"no id", reply(nlattr(2, []byte("ethtool\x00"))), 0},
		{"id of 4 bytes", reply(nlattr(ctrlAttrFamilyID, u32s(21))), 0},
		{"zero id", reply(nlattr(ctrlAttrFamilyID, u16(0))), 0},
		{"truncated attribute", reply(nlattr(ctrlAttrFamilyID, u16(21)))[:7], 0},
		{"no header", []byte{1, 2}, 0},
	} {
		id, err := parseFamilyID(tc.b)
		if tc.want == 0 {
			if !errors.Is(err, ErrBadRSSReply) {
				t.Errorf("%s: id %d, err %v; want ErrBadRSSReply", tc.name, id, err)
			}
			continue
		}
		if err != nil || id != tc.want {
			t.Errorf("%s: id %d, err %v; want %d", tc.name, id, err, tc.want)
		}
	}
}

func FuzzParseFamilyID(f *testing.F) {
	f.Add([]byte{1, 2, 0, 0, 6, 0, 1, 0, 21, 0, 0, 0})
	f.Add([]byte{1, 2, 0, 0, 4, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := parseFamilyID(b)
		if (err == nil) == (id == 0) {
			t.Fatalf("id %d with error %v", id, err)
		}
		if err != nil && !errors.Is(err, ErrBadRSSReply) {
			t.Fatalf("error %v is not ErrBadRSSReply", err)
		}
	})
}
