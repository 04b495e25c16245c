package rxq

import (
	"errors"
	"strings"
	"testing"
)

func TestSocketOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*SocketOptions)
		wantErr error
		wantMsg string // a substring naming the bad value
	}{
		{"default", func(*SocketOptions) {}, nil, ""},
		{"frame 2048", func(o *SocketOptions) { o.FrameSize = 2048 }, nil, ""},
		{"tx ring", func(o *SocketOptions) { o.TXRingSize = 512 }, nil, ""},
		{"frame 1000", func(o *SocketOptions) { o.FrameSize = 1000 }, ErrBadOption, "FrameSize 1000"},
		{"frames 3000", func(o *SocketOptions) { o.NumFrames = 3000 }, ErrNotPowerOfTwo, "NumFrames 3000"},
		{"frames 0", func(o *SocketOptions) { o.NumFrames = 0 }, ErrNotPowerOfTwo, "NumFrames 0"},
		{"fill 100", func(o *SocketOptions) { o.FillRingSize = 100 }, ErrNotPowerOfTwo, "FillRingSize 100"},
		{"fill 0", func(o *SocketOptions) { o.FillRingSize = 0 }, ErrNotPowerOfTwo, "FillRingSize 0"},
		{"comp -4", func(o *SocketOptions) { o.CompletionRingSize = -4 }, ErrNotPowerOfTwo, "CompletionRingSize -4"},
		{"rx 3", func(o *SocketOptions) { o.RXRingSize = 3 }, ErrNotPowerOfTwo, "RXRingSize 3"},
		{"tx 5", func(o *SocketOptions) { o.TXRingSize = 5 }, ErrNotPowerOfTwo, "TXRingSize 5"},
		{"rx huge", func(o *SocketOptions) { o.RXRingSize = 1 << 24 }, ErrBadOption, "RXRingSize 16777216"},
		{"no rx no tx", func(o *SocketOptions) { o.RXRingSize = 0 }, ErrBadOption, "RXRingSize and TXRingSize"},
		{"headroom big", func(o *SocketOptions) { o.Headroom = 4000 }, ErrBadOption, "Headroom 4000"},
		{"headroom neg", func(o *SocketOptions) { o.Headroom = -1 }, ErrBadOption, "Headroom -1"},
		{"zerocopy 9", func(o *SocketOptions) { o.ZeroCopy = 9 }, ErrBadOption, "ZeroCopy 9"},
		{"busy poll", func(o *SocketOptions) { o.PreferBusyPoll, o.BusyPollUs, o.BusyPollBudget = true, 20, 64 }, nil, ""},
		{"busy poll us neg", func(o *SocketOptions) { o.BusyPollUs = -1 }, ErrBadOption, "BusyPollUs -1"},
		{"busy poll budget neg", func(o *SocketOptions) { o.BusyPollBudget = -2 }, ErrBadOption, "BusyPollBudget -2"},
		{"busy poll budget huge", func(o *SocketOptions) { o.BusyPollBudget = 1 << 16 }, ErrBadOption, "BusyPollBudget 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultSocketOptions()
			tt.mod(&o)
			err := o.Validate()
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not name %q", err, tt.wantMsg)
			}
		})
	}
}

func TestNewSocketRejectsBadOptions(t *testing.T) {
	o := DefaultSocketOptions()
	o.FrameSize = 3000
	if _, err := NewSocket(1, 0, &o); !errors.Is(err, ErrBadOption) {
		t.Errorf("NewSocket with FrameSize 3000: got %v, want ErrBadOption", err)
	}
}
