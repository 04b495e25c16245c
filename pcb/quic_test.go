package pcb

import (
	"errors"
	"testing"

	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/localgroup/quiclb"
)

// TestLookupPacketQUIC: under the QUIC policy a short-header packet goes to
// the member its server ID names, for the exact and the wildcard group, and
// for any client address; Lookup (no payload) picks by hash.
func TestLookupPacketQUIC(t *testing.T) {
	tb := newTable(t, Config{Queues: 2, GroupLimit: 8, Policy: localgroup.QUIC})
	for id := EndpointID(1); id <= 4; id++ {
		if err := tb.Bind(id, sp("udp/0.0.0.0:443", rp)); err != nil {
			t.Fatal(err)
		}
		if err := tb.Bind(10+id, sp("udp/198.18.0.1:443", rp)); err != nil {
			t.Fatal(err)
		}
	}
	tb.Bind(20, sp("udp/198.18.0.1:80"))
	if err := tb.Unbind(2); err != nil { // 3 and 4 keep their server IDs
		t.Fatal(err)
	}
	lb := quiclb.DefaultConfig()
	pkt := func(sid uint32) []byte {
		p := make([]byte, 40)
		p[0] = 0x41
		lb.Encode(p[1:1+lb.CIDLen], sid)
		return p
	}
	tests := []struct {
		dst  string
		want map[uint32]EndpointID // server ID -> endpoint
	}{
		{"198.18.0.2:443", map[uint32]EndpointID{1: 1, 3: 3, 4: 4}},
		{"198.18.0.1:443", map[uint32]EndpointID{1: 11, 2: 12, 3: 13, 4: 14}},
	}
	for _, tc := range tests {
		for sid, want := range tc.want {
			if got, ok := tb.ServerID(want); !ok || got != sid {
				t.Errorf("ServerID(%d) = %d, %v, want %d", want, got, ok, sid)
			}
			for port := 1000; port < 1100; port++ { // a rebinding client
				f := fl("udp", "198.18.1.1:"+itoa(port), tc.dst)
				if got := tb.LookupPacket(&f, uint32(port)*0x9e3779b9, pkt(sid)); got != want {
					t.Fatalf("%s sid %d port %d: LookupPacket = %d, want %d", tc.dst, sid, port, got, want)
				}
			}
		}
	}
	// Server ID 2 left: the hash decides, as Lookup does.
	f := fl("udp", "198.18.1.1:5000", "198.18.0.2:443")
	for h := uint32(0); h < 1<<32-1<<24; h += 1 << 24 {
		if got, want := tb.LookupPacket(&f, h, pkt(2)), tb.Lookup(&f, h); got != want || got == 0 {
			t.Fatalf("sid 2 (gone), hash %#x: LookupPacket = %d, Lookup = %d", h, got, want)
		}
	}
	for _, id := range []EndpointID{2, 20, 99} {
		if sid, ok := tb.ServerID(id); ok {
			t.Errorf("ServerID(%d) = %d, true, want false", id, sid)
		}
	}
	bad := Config{Queues: 1, GroupLimit: 8, QUIC: localgroup.QUICConfig{LB: quiclb.Config{ServerIDLen: 2, CIDLen: 5}}}
	if _, err := NewTable(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewTable(CID length 5) = %v, want ErrInvalidConfig", err)
	}
}
