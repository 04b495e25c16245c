package rxq

import (
	"os"
	"testing"
)

func TestSysfsRXQueues(t *testing.T) {
	if _, err := os.Stat("/sys/class/net/lo/queues"); err != nil {
		t.Skipf("no sysfs: %v", err)
	}
	tests := []struct {
		ifname string
		min    int
		max    int
	}{
		{"lo", 1, 1 << 16},
		{"xmnosuch0", 0, 0},
		{"", 0, 0},
		{"../lo", 0, 0},
		{"lo/../lo", 0, 0},
	}
	for _, tt := range tests {
		if got := SysfsRXQueues(tt.ifname); got < tt.min || got > tt.max {
			t.Errorf("SysfsRXQueues(%q) = %d, want %d to %d", tt.ifname, got, tt.min, tt.max)
		}
	}
}
