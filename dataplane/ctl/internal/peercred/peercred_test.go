package peercred

import "testing"

func TestCapEff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  string
		want    uint64
		wantErr bool
	}{
		{"root", "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n", 0x1ffffffffff, false},
		{"bind only", "CapPrm:\t0000000000000400\nCapEff:\t0000000000000400\n", 1 << capNetBindService, false},
		{"none", "CapEff:\t0000000000000000", 0, false},
		{"missing", "Name:\tx\nCapPrm:\t0000000000000400\n", 0, true},
		{"garbage", "CapEff:\tzz\n", 0, true},
		{"empty", "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := capEff([]byte(tc.status))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("capEff: got %#x, %v; want %#x, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
