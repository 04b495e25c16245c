package dataplane

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rss"
)

func TestRSSStatus(t *testing.T) {
	def := make([]uint32, 128)
	for i := range def {
		def[i] = uint32(i % 4)
	}
	skew := make([]uint32, 128) // everything on queue 1
	for i := range skew {
		skew[i] = 1
	}
	other := make([]byte, 40)
	for i := range other {
		other[i] = byte(i)
	}
	for _, tt := range []struct {
		name    string
		info    rxq.RSSInfo
		err     error
		keySet  bool
		want    RSSStatus
		note    []string // in Note
		wantKey bool
	}{
		{"veth", rxq.RSSInfo{}, fmt.Errorf("read rss: %w", rxq.ErrNotSupported), false,
			RSSStatus{}, []string{"no RSS"}, false},
		{"other error", rxq.RSSInfo{}, fmt.Errorf("boom"), false, RSSStatus{}, []string{"RSS unknown", "boom"}, false},
		{"default", rxq.RSSInfo{HashFunc: rxq.RSSHashToeplitz, Key: rss.DefaultKey[:], Indir: def}, nil, false,
			RSSStatus{Available: true, HashFunc: "toeplitz", KeyLen: 40, KeyDefault: true, IndirSize: 128, IndirDefault: true, Queues: 4, NICKey: true}, nil, true},
		{"other key used", rxq.RSSInfo{HashFunc: rxq.RSSHashToeplitz, Key: other, Indir: def}, nil, false,
			RSSStatus{Available: true, HashFunc: "toeplitz", KeyLen: 40, IndirSize: 128, IndirDefault: true, Queues: 4, NICKey: true}, []string{"uses the NIC's key"}, true},
		{"other key, Config.Key set", rxq.RSSInfo{HashFunc: rxq.RSSHashToeplitz, Key: other, Indir: def}, nil, true,
			RSSStatus{Available: true, HashFunc: "toeplitz", KeyLen: 40, IndirSize: 128, IndirDefault: true, Queues: 4}, []string{"not used"}, false},
		{"skewed table", rxq.RSSInfo{HashFunc: rxq.RSSHashToeplitz, Key: rss.DefaultKey[:], Indir: skew}, nil, false,
			RSSStatus{Available: true, HashFunc: "toeplitz", KeyLen: 40, KeyDefault: true, IndirSize: 128, Queues: 2, NICKey: true}, []string{"not i mod 4"}, true},
		{"xor", rxq.RSSInfo{HashFunc: rxq.RSSHashXOR, Key: other}, nil, false,
			RSSStatus{Available: true, HashFunc: "xor", KeyLen: 40}, []string{"not Toeplitz", "does not hash with Toeplitz"}, false},
		{"virtio without key", rxq.RSSInfo{HashFunc: rxq.RSSHashToeplitz}, nil, false,
			RSSStatus{Available: true, HashFunc: "toeplitz"}, []string{"no key"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, key := rssStatus(tt.info, tt.err, 4, tt.keySet)
			note := got.Note
			got.Note = ""
			if got != tt.want {
				t.Errorf("status %+v, want %+v", got, tt.want)
			}
			for _, n := range tt.note {
				if !strings.Contains(note, n) {
					t.Errorf("note %q lacks %q", note, n)
				}
			}
			if len(tt.note) == 0 && note != "" {
				t.Errorf("note %q, want none", note)
			}
			if (key != nil) != tt.wantKey {
				t.Errorf("key %x, want one: %v", key, tt.wantKey)
			}
		})
	}
}
