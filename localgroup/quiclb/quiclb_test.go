package quiclb

import (
	"bytes"
	"errors"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		c  Config
		ok bool
	}{
		{DefaultConfig(), true},
		{Config{ConfigID: 6, ServerIDLen: 1, CIDLen: 6}, true},
		{Config{ConfigID: 0, ServerIDLen: 15, CIDLen: 20}, true},
		{Config{ConfigID: 7, ServerIDLen: 2, CIDLen: 8}, false},
		{Config{ServerIDLen: 0, CIDLen: 8}, false},
		{Config{ServerIDLen: 16, CIDLen: 20}, false},
		{Config{ServerIDLen: 2, CIDLen: 6}, false}, // 3-octet nonce
		{Config{ServerIDLen: 2, CIDLen: 21}, false},
	}
	for _, tc := range tests {
		err := tc.c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%+v: Validate = %v, want ok %v", tc.c, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v does not wrap ErrInvalidConfig", tc.c, err)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	tests := []struct {
		c   Config
		sid uint32
	}{
		{DefaultConfig(), 1},
		{DefaultConfig(), 0xffff},
		{Config{ConfigID: 5, ServerIDLen: 1, CIDLen: 6}, 0xab},
		{Config{ConfigID: 1, ServerIDLen: 3, CIDLen: 12}, 0x123456},
		{Config{ConfigID: 2, ServerIDLen: 6, CIDLen: 20}, 0xdeadbeef},
	}
	for _, tc := range tests {
		cid := bytes.Repeat([]byte{0xee}, tc.c.CIDLen)
		tc.c.Encode(cid, tc.sid)
		if cid[0] != tc.c.ConfigID<<5|byte(tc.c.CIDLen-1) {
			t.Errorf("%+v: first octet %#x", tc.c, cid[0])
		}
		if !bytes.Equal(cid[1+tc.c.ServerIDLen:], bytes.Repeat([]byte{0xee}, tc.c.CIDLen-1-tc.c.ServerIDLen)) {
			t.Errorf("%+v: nonce overwritten: %x", tc.c, cid)
		}
		got, ok := tc.c.Decode(cid)
		if !ok || got != tc.sid {
			t.Errorf("%+v: Decode(%x) = %d, %v, want %d, true", tc.c, cid, got, ok, tc.sid)
		}
		other := tc.c
		other.ConfigID = (tc.c.ConfigID + 1) % Unroutable
		if _, ok := other.Decode(cid); ok {
			t.Errorf("%+v: decoded with config rotation %d", tc.c, other.ConfigID)
		}
		if _, ok := tc.c.Decode(cid[:len(cid)-1]); ok {
			t.Errorf("%+v: decoded a short ID", tc.c)
		}
	}
	// A 6-octet server ID whose high octets are set does not fit a uint32.
	c := Config{ServerIDLen: 6, CIDLen: 20}
	cid := make([]byte, 20)
	cid[1] = 1
	if sid, ok := c.Decode(cid); ok {
		t.Errorf("Decode(%x) = %d, true, want false", cid, sid)
	}
}

// packet builds a QUIC header: a short header with dcid, or a long header
// of version v and type typ.
func long(b0 byte, version uint32, dcid []byte) []byte {
	p := []byte{b0, byte(version >> 24), byte(version >> 16), byte(version >> 8), byte(version), byte(len(dcid))}
	p = append(p, dcid...)
	p = append(p, 4, 1, 2, 3, 4) // SCID
	return append(p, make([]byte, 20)...)
}

func TestServerID(t *testing.T) {
	c := DefaultConfig()
	cid := []byte{0, 0, 0, 9, 9, 9, 9, 9}
	c.Encode(cid, 0x0102)
	short := append([]byte{0x40}, cid...)
	short = append(short, make([]byte, 30)...)
	tests := []struct {
		name string
		p    []byte
		sid  uint32
		ok   bool
	}{
		{"short", short, 0x0102, true},
		{"short, grease fixed bit", append([]byte{0x00}, short[1:]...), 0x0102, true},
		{"short, exactly the ID", short[:1+8], 0x0102, true},
		{"short, truncated", short[:8], 0, false},
		{"empty", nil, 0, false},
		{"v1 handshake", long(0xe0, Version1, cid), 0x0102, true},
		{"v1 initial", long(0xc0, Version1, cid), 0, false},
		{"v1 0-rtt", long(0xd0, Version1, cid), 0, false},
		{"v1 retry", long(0xf0, Version1, cid), 0, false},
		{"v2 handshake", long(0xf0, Version2, cid), 0x0102, true},
		{"v2 initial", long(0xd0, Version2, cid), 0, false},
		{"version negotiation", long(0xc0, 0, cid), 0, false},
		{"unknown version", long(0xe0, 0x1a2a3a4a, cid), 0, false},
		{"v1 handshake, other length", long(0xe0, Version1, cid[:7]), 0, false},
		{"v1 handshake, truncated", long(0xe0, Version1, cid)[:10], 0, false},
		{"v1 handshake, DCID length 21", long(0xe0, Version1, make([]byte, 21)), 0, false},
		{"long, 5 octets", []byte{0xe0, 0, 0, 0, 1}, 0, false},
		{"unroutable", append([]byte{0x40, 0xe7}, short[2:]...), 0, false},
	}
	for _, tc := range tests {
		sid, ok := c.ServerID(tc.p)
		if sid != tc.sid || ok != tc.ok {
			t.Errorf("%s: ServerID = %d, %v, want %d, %v", tc.name, sid, ok, tc.sid, tc.ok)
		}
	}
}

func TestServerIDAllocs(t *testing.T) {
	c := DefaultConfig()
	p := long(0xe0, Version1, []byte{7, 0, 3, 1, 2, 3, 4, 5})
	if n := testing.AllocsPerRun(100, func() { c.ServerID(p) }); n != 0 {
		t.Errorf("ServerID allocates %v times, want 0", n)
	}
}

// FuzzServerID: ServerID never panics, and agrees with a direct reading of
// the header for what it accepts.
func FuzzServerID(f *testing.F) {
	c := DefaultConfig()
	cid := []byte{0, 0, 0, 1, 2, 3, 4, 5}
	c.Encode(cid, 42)
	f.Add(append([]byte{0x41}, cid...), 2, 8)
	f.Add(long(0xe0, Version1, cid), 2, 8)
	f.Add(long(0xc3, Version1, make([]byte, 20)), 2, 8)
	f.Add(long(0xf0, Version2, cid), 1, 6)
	f.Fuzz(func(t *testing.T, p []byte, sidLen, cidLen int) {
		c := Config{ServerIDLen: sidLen, CIDLen: cidLen}
		if c.Validate() != nil {
			return
		}
		sid, ok := c.ServerID(p)
		if !ok {
			return
		}
		var cid []byte
		if p[0]&0x80 == 0 {
			cid = p[1 : 1+c.CIDLen]
		} else {
			cid = p[6 : 6+int(p[5])]
		}
		if cid[0]>>5 != c.ConfigID || len(cid) != c.CIDLen {
			t.Fatalf("accepted %x with CID %x", p, cid)
		}
		re := bytes.Clone(cid)
		c.Encode(re, sid)
		// The low 5 bits of octet 0 (length self-description) are not read.
		if re[0]>>5 != cid[0]>>5 || !bytes.Equal(re[1:], cid[1:]) {
			t.Fatalf("server ID %d of %x re-encodes as %x", sid, cid, re)
		}
	})
}
