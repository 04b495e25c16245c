package rss

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// rssVector is one row of Microsoft's "Verifying the RSS Hash Calculation"
// tables: the hash of src, dst (and the ports) under DefaultKey.
type rssVector struct {
	src, dst         string
	sport, dport     uint16
	withPorts, addrs uint32 // with TCP ports; addresses only
}

var rssVectors = []rssVector{
	// IPv4.
	{"66.9.149.187", "161.142.100.80", 2794, 1766, 0x51ccc178, 0x323e8fc2},
	{"199.92.111.2", "65.69.140.83", 14230, 4739, 0xc626b0ea, 0xd718262a},
	{"24.19.198.95", "12.22.207.184", 12898, 38024, 0x5c2b394a, 0xd2d0a5de},
	{"38.27.205.30", "209.142.163.6", 48228, 2217, 0xafc7327f, 0x82989176},
	{"153.39.163.191", "202.188.127.2", 44251, 1303, 0x10e828a2, 0x5d1809c5},
	// IPv6.
	{"3ffe:2501:200:1fff::7", "3ffe:2501:200:3::1", 2794, 1766, 0x40207d3d, 0x2cc18cd5},
	{"3ffe:501:8::260:97ff:fe40:efab", "ff02::1", 14230, 4739, 0xdde51bbf, 0x0f0c461c},
	{"3ffe:1900:4545:3:200:f8ff:fe21:67cf", "fe80::200:f8ff:fe21:67cf", 44251, 38024, 0x02d1feef, 0x4b61e985},
}

// input returns the vector's hash input: src addr, dst addr, and the ports
// (src, dst) in network byte order.
func (v rssVector) input() (addrs, ports []byte) {
	src, dst := netip.MustParseAddr(v.src), netip.MustParseAddr(v.dst)
	addrs = append(src.AsSlice(), dst.AsSlice()...)
	ports = binary.BigEndian.AppendUint16(nil, v.sport)
	ports = binary.BigEndian.AppendUint16(ports, v.dport)
	return addrs, ports
}

func defaultToeplitz(t testing.TB) *Toeplitz {
	t.Helper()
	tz, err := NewToeplitz(DefaultKey[:])
	if err != nil {
		t.Fatalf("NewToeplitz(DefaultKey): %v", err)
	}
	return tz
}

func TestMicrosoftVectors(t *testing.T) {
	tz := defaultToeplitz(t)
	for _, v := range rssVectors {
		addrs, ports := v.input()
		full := append(append([]byte(nil), addrs...), ports...)
		v4 := len(addrs) == 8
		fast := tz.HashV6
		if v4 {
			fast = tz.HashV4
		}
		tests := []struct {
			name string
			got  uint32
			want uint32
		}{
			{"reference ports", ReferenceHash(DefaultKey[:], full), v.withPorts},
			{"reference addrs", ReferenceHash(DefaultKey[:], addrs), v.addrs},
			{"Hash ports", tz.Hash(full), v.withPorts},
			{"Hash addrs", tz.Hash(addrs), v.addrs},
			{"fast ports", fast(addrs, ports), v.withPorts},
			{"fast addrs nil", fast(addrs, nil), v.addrs},
			{"fast addrs empty", fast(addrs, []byte{}), v.addrs},
		}
		for _, tt := range tests {
			if tt.got != tt.want {
				t.Errorf("%s -> %s %s: got %#08x, want %#08x", v.src, v.dst, tt.name, tt.got, tt.want)
			}
		}
	}
}

// TestFastPathsInFrame hashes straight out of header bytes, with trailing
// bytes after the fields, as the dataplane does.
func TestFastPathsInFrame(t *testing.T) {
	tz := defaultToeplitz(t)
	for _, v := range rssVectors {
		addrs, ports := v.input()
		frame := append(append(append([]byte(nil), addrs...), 0xff, 0xee), ports...)
		frame = append(frame, 0xaa, 0xbb, 0xcc)
		n := len(addrs)
		a, p := frame[:n+2], frame[n+2:]
		var got uint32
		if n == 8 {
			got = tz.HashV4(a, p)
		} else {
			got = tz.HashV6(a, p)
		}
		if got != v.withPorts {
			t.Errorf("%s -> %s: got %#08x, want %#08x", v.src, v.dst, got, v.withPorts)
		}
	}
}

func TestShortInputs(t *testing.T) {
	tz := defaultToeplitz(t)
	tests := []struct {
		name string
		got  uint32
		want uint32
	}{
		{"HashV4 nil addrs", tz.HashV4(nil, nil), 0},
		{"HashV4 7-byte addrs", tz.HashV4(make([]byte, 7), []byte{1, 2, 3, 4}), 0},
		{"HashV6 31-byte addrs", tz.HashV6(make([]byte, 31), []byte{1, 2, 3, 4}), 0},
		{"HashV4 3-byte ports", tz.HashV4([]byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{9, 9, 9}),
			tz.Hash([]byte{1, 2, 3, 4, 5, 6, 7, 8})},
		{"Hash empty", tz.Hash(nil), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %#08x, want %#08x", tt.name, tt.got, tt.want)
		}
	}
	long := make([]byte, 50)
	for i := range long {
		long[i] = byte(i*37 + 1)
	}
	if got, want := tz.Hash(long), tz.Hash(long[:MaxHashInput]); got != want {
		t.Errorf("Hash(50 bytes): got %#08x, want hash of first %d bytes %#08x", got, MaxHashInput, want)
	}
}

func TestNewToeplitzKeyLength(t *testing.T) {
	for _, n := range []int{0, 1, 39} {
		_, err := NewToeplitz(make([]byte, n))
		if !errors.Is(err, ErrKeyTooShort) {
			t.Errorf("NewToeplitz(%d bytes): got %v, want ErrKeyTooShort", n, err)
		}
	}
	for _, n := range []int{40, 52} {
		if _, err := NewToeplitz(make([]byte, n)); err != nil {
			t.Errorf("NewToeplitz(%d bytes): got %v, want nil", n, err)
		}
	}
	_, err := NewToeplitz(make([]byte, 16))
	if err == nil || err.Error() != "toeplitz key of 16 bytes: toeplitz key shorter than 40 bytes" {
		t.Errorf("NewToeplitz(16 bytes): got %v", err)
	}
}

// TestRandomAgainstReference compares all entry points with the bit-by-bit
// reference on random keys and inputs (the fuzz test explores further).
func TestRandomAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		key := make([]byte, KeySize+rng.IntN(8))
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		tz, err := NewToeplitz(key)
		if err != nil {
			t.Fatal(err)
		}
		for range 50 {
			in := make([]byte, MaxHashInput)
			for i := range in {
				in[i] = byte(rng.Uint32())
			}
			checkAgainstReference(t, tz, key, in)
		}
	}
}

// checkAgainstReference checks Hash, HashV4 and HashV6 on in (and its
// prefixes that the fast paths take) against ReferenceHash.
func checkAgainstReference(t *testing.T, tz *Toeplitz, key, in []byte) {
	t.Helper()
	n := min(len(in), MaxHashInput)
	if got, want := tz.Hash(in), ReferenceHash(key, in[:n]); got != want {
		t.Fatalf("key %x input %x: Hash got %#08x, ReferenceHash %#08x", key, in, got, want)
	}
	if len(in) >= 8 {
		if got, want := tz.HashV4(in[:8], nil), ReferenceHash(key, in[:8]); got != want {
			t.Fatalf("key %x input %x: HashV4 addrs got %#08x, want %#08x", key, in[:8], got, want)
		}
	}
	if len(in) >= 12 {
		if got, want := tz.HashV4(in[:8], in[8:12]), ReferenceHash(key, in[:12]); got != want {
			t.Fatalf("key %x input %x: HashV4 got %#08x, want %#08x", key, in[:12], got, want)
		}
	}
	if len(in) >= 32 {
		if got, want := tz.HashV6(in[:32], nil), ReferenceHash(key, in[:32]); got != want {
			t.Fatalf("key %x input %x: HashV6 addrs got %#08x, want %#08x", key, in[:32], got, want)
		}
	}
	if len(in) >= 36 {
		if got, want := tz.HashV6(in[:32], in[32:36]), ReferenceHash(key, in[:36]); got != want {
			t.Fatalf("key %x input %x: HashV6 got %#08x, want %#08x", key, in[:36], got, want)
		}
	}
}

func FuzzToeplitz(f *testing.F) {
	for _, v := range rssVectors {
		addrs, ports := v.input()
		f.Add(DefaultKey[:], append(addrs, ports...))
	}
	f.Add(make([]byte, KeySize), []byte{0xff})
	f.Fuzz(func(t *testing.T, key, in []byte) {
		tz, err := NewToeplitz(key)
		if len(key) < KeySize {
			if !errors.Is(err, ErrKeyTooShort) {
				t.Fatalf("NewToeplitz(%d bytes): got %v, want ErrKeyTooShort", len(key), err)
			}
			// Still exercise the fast paths with the default key.
			key = DefaultKey[:]
			tz = defaultToeplitz(t)
		} else if err != nil {
			t.Fatalf("NewToeplitz(%d bytes): %v", len(key), err)
		}
		checkAgainstReference(t, tz, key, in)
		// Short addrs and ports must not panic.
		tz.HashV4(in, in)
		tz.HashV6(in, in)
	})
}

func TestHashAllocs(t *testing.T) {
	tz := defaultToeplitz(t)
	v4, v4p := rssVectors[0].input()
	v6, v6p := rssVectors[5].input()
	in := append(append([]byte(nil), v6...), v6p...)
	var sink uint32
	tests := []struct {
		name string
		f    func()
	}{
		{"HashV4 ports", func() { sink ^= tz.HashV4(v4, v4p) }},
		{"HashV4 addrs", func() { sink ^= tz.HashV4(v4, nil) }},
		{"HashV6 ports", func() { sink ^= tz.HashV6(v6, v6p) }},
		{"HashV6 addrs", func() { sink ^= tz.HashV6(v6, nil) }},
		{"Hash", func() { sink ^= tz.Hash(in) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: got %v allocs per run, want 0", tt.name, n)
		}
	}
	_ = sink
}

func BenchmarkHashV4Ports(b *testing.B) {
	tz := defaultToeplitz(b)
	addrs, ports := rssVectors[0].input()
	b.ReportAllocs()
	var h uint32
	for i := 0; b.Loop(); i++ {
		addrs[7] = byte(i) // vary the input so the hash is not hoisted
		h ^= tz.HashV4(addrs, ports)
	}
	toeplitzSink = h
}

func BenchmarkHashV4Addrs(b *testing.B) {
	tz := defaultToeplitz(b)
	addrs, _ := rssVectors[0].input()
	b.ReportAllocs()
	var h uint32
	for i := 0; b.Loop(); i++ {
		addrs[7] = byte(i)
		h ^= tz.HashV4(addrs, nil)
	}
	toeplitzSink = h
}

func BenchmarkHashV6Ports(b *testing.B) {
	tz := defaultToeplitz(b)
	addrs, ports := rssVectors[5].input()
	b.ReportAllocs()
	var h uint32
	for i := 0; b.Loop(); i++ {
		addrs[31] = byte(i)
		h ^= tz.HashV6(addrs, ports)
	}
	toeplitzSink = h
}

func BenchmarkHash(b *testing.B) {
	tz := defaultToeplitz(b)
	addrs, ports := rssVectors[5].input()
	in := append(addrs, ports...)
	b.ReportAllocs()
	var h uint32
	for i := 0; b.Loop(); i++ {
		in[31] = byte(i)
		h ^= tz.Hash(in)
	}
	toeplitzSink = h
}

func BenchmarkReference(b *testing.B) {
	addrs, ports := rssVectors[0].input()
	in := append(addrs, ports...)
	b.ReportAllocs()
	var h uint32
	for i := 0; b.Loop(); i++ {
		in[7] = byte(i)
		h ^= ReferenceHash(DefaultKey[:], in)
	}
	toeplitzSink = h
}

func BenchmarkNewToeplitz(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewToeplitz(DefaultKey[:]); err != nil {
			b.Fatal(err)
		}
	}
}

var toeplitzSink uint32
