package quicep

import (
	"errors"
	"testing"

	"github.com/xdpmux/xdpmux/localgroup/quiclb"
)

func TestCIDGenerator(t *testing.T) {
	tests := []struct {
		lb  quiclb.Config
		sid uint32
	}{
		{quiclb.DefaultConfig(), 1},
		{quiclb.DefaultConfig(), 65535},
		{quiclb.Config{ConfigID: 3, ServerIDLen: 1, CIDLen: 20}, 200},
	}
	for _, tc := range tests {
		g, err := NewCIDGenerator(tc.lb, tc.sid)
		if err != nil {
			t.Fatal(err)
		}
		if g.ConnectionIDLen() != tc.lb.CIDLen {
			t.Errorf("%+v: ConnectionIDLen = %d", tc.lb, g.ConnectionIDLen())
		}
		seen := map[string]bool{}
		for range 1000 {
			cid, err := g.GenerateConnectionID()
			if err != nil {
				t.Fatal(err)
			}
			b := cid.Bytes()
			if sid, ok := tc.lb.Decode(b); !ok || sid != tc.sid {
				t.Fatalf("%+v: %x decodes as %d, %v, want %d", tc.lb, b, sid, ok, tc.sid)
			}
			if seen[string(b)] {
				t.Fatalf("%+v: %x generated twice", tc.lb, b)
			}
			seen[string(b)] = true
			// A short-header packet to this ID routes by it.
			if sid, ok := tc.lb.ServerID(append([]byte{0x40}, b...)); !ok || sid != tc.sid {
				t.Fatalf("%+v: packet to %x: server ID %d, %v", tc.lb, b, sid, ok)
			}
		}
	}
	if _, err := NewCIDGenerator(quiclb.Config{ServerIDLen: 1, CIDLen: 8}, 256); !errors.Is(err, quiclb.ErrInvalidConfig) {
		t.Errorf("server ID 256 in 1 octet: %v, want ErrInvalidConfig", err)
	}
	if _, err := NewCIDGenerator(quiclb.Config{ServerIDLen: 2, CIDLen: 3}, 1); !errors.Is(err, quiclb.ErrInvalidConfig) {
		t.Errorf("CID length 3: %v, want ErrInvalidConfig", err)
	}
}
