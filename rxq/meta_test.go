package rxq

import (
	"encoding/binary"
	"testing"
)

func TestReadMeta(t *testing.T) {
	valid := NICHash{Hash: 0xdeadbeef, Flags: MetaMagic | MetaValid | 0x31<<1}
	for _, tt := range []struct {
		name   string
		umem   int    // UMEM size
		addr   uint64 // frame address
		put    *NICHash
		want   NICHash
		valid  bool
		rssTyp uint32
	}{
		{"valid", 4096, 256, &valid, valid, true, 0x31},
		{"no hash", 4096, 256, &NICHash{Flags: MetaMagic}, NICHash{Flags: MetaMagic}, false, 0},
		{"no magic", 4096, 256, &NICHash{Hash: 7, Flags: MetaValid}, NICHash{}, false, 0},
		{"other magic", 4096, 256, &NICHash{Hash: 7, Flags: 0x12340000 | MetaValid}, NICHash{}, false, 0},
		{"nothing written", 4096, 256, nil, NICHash{}, false, 0},
		{"at umem start", 4096, 0, nil, NICHash{}, false, 0},
		{"too close to start", 4096, 7, nil, NICHash{}, false, 0},
		{"exactly 8", 4096, 8, &valid, valid, true, 0x31},
		{"at umem end", 4096, 4096, &valid, valid, true, 0x31},
		{"past umem end", 4096, 4097, nil, NICHash{}, false, 0},
		{"huge addr", 4096, ^uint64(0), nil, NICHash{}, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			umem := make([]byte, tt.umem)
			if tt.put != nil && !PutMeta(umem, tt.addr, *tt.put) {
				t.Fatalf("PutMeta(%d) failed", tt.addr)
			}
			got := ReadMeta(umem, tt.addr)
			if got != tt.want || got.Valid() != tt.valid || got.RSSType() != tt.rssTyp {
				t.Errorf("ReadMeta = %+v (valid %v, type %#x), want %+v (%v, %#x)", got, got.Valid(), got.RSSType(), tt.want, tt.valid, tt.rssTyp)
			}
			// Read once: the metadata is cleared when it was ours.
			if again := ReadMeta(umem, tt.addr); again != (NICHash{}) {
				t.Errorf("second ReadMeta = %+v, want zero", again)
			}
		})
	}
}

func TestReadMetaNoAlloc(t *testing.T) {
	umem := make([]byte, 4096)
	var sink uint32
	allocs := testing.AllocsPerRun(100, func() {
		PutMeta(umem, 512, NICHash{Hash: 1, Flags: MetaMagic | MetaValid})
		sink += ReadMeta(umem, 512).Hash
	})
	if allocs != 0 {
		t.Errorf("PutMeta+ReadMeta: %v allocs, want 0", allocs)
	}
	_ = sink
}

// FuzzReadMeta: any bytes, any address: no panic, Valid only with the magic
// and the valid bit, and the metadata is gone once read valid.
func FuzzReadMeta(f *testing.F) {
	m := make([]byte, 16)
	binary.NativeEndian.PutUint32(m[8:], 0x1234)
	binary.NativeEndian.PutUint32(m[12:], MetaMagic|MetaValid)
	f.Add(m, uint64(16))
	f.Add([]byte{1, 2, 3}, uint64(2))
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, umem []byte, addr uint64) {
		h := ReadMeta(umem, addr)
		if h.Valid() {
			if h.Flags&0xffff0000 != MetaMagic || h.Flags&MetaValid == 0 {
				t.Fatalf("Valid with flags %#x", h.Flags)
			}
			if again := ReadMeta(umem, addr); again.Valid() {
				t.Fatalf("valid twice: %+v", again)
			}
		}
	})
}
