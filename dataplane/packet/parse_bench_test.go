package packet

import (
	"testing"

	"github.com/xdpmux/xdpmux/dataplane/packet/packettest"
)

func benchParse(b *testing.B, frame []byte) {
	var tu Tuple
	if r := Parse(frame, &tu); r != OK {
		b.Fatalf("Parse = %v", r)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		Parse(frame, &tu)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
}

func BenchmarkParseUDP4(b *testing.B) {
	benchParse(b, packettest.UDP4(src4, dst4, make([]byte, 64)))
}

func BenchmarkParseUDP6(b *testing.B) {
	benchParse(b, packettest.UDP6(src6, dst6, make([]byte, 64)))
}

func BenchmarkParseVLANTCP4(b *testing.B) {
	benchParse(b, packettest.TCP4(src4, dst4, make([]byte, 64), packettest.VLAN(100)))
}
