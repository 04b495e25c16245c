package packet

import "testing"

// FuzzParse checks that Parse never panics, that every OK tuple keeps the
// offset invariants the hash relies on, that a non-OK tuple is zero, and
// that gopacket agrees on addresses, ports and offsets where it decodes the
// same layers.
func FuzzParse(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	for _, tc := range parseCases() {
		f.Add(tc.frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var tu Tuple
		r := Parse(frame, &tu)
		if r >= NumReasons {
			t.Fatalf("reason %d out of range", r)
		}
		if r != OK {
			if tu != (Tuple{}) {
				t.Fatalf("tuple not zero on %v: %+v", r, tu)
			}
			return
		}
		if err := checkInvariants(frame, &tu); err != nil {
			t.Fatal(err)
		}
		if err := crossCheck(frame, &tu); err != nil {
			t.Fatalf("gopacket cross-check: %v (tuple %+v)", err, tu)
		}
		// Parse is a pure function of the bytes.
		var again Tuple
		if Parse(frame, &again) != OK || again != tu {
			t.Fatalf("second parse differs: %+v vs %+v", again, tu)
		}
	})
}
