package xdpprog

import "testing"

func TestModeString(t *testing.T) {
	for _, tt := range []struct {
		m    Mode
		want string
	}{
		{ModeNative, "native"},
		{ModeGeneric, "generic"},
		{Mode(7), "unknown"},
	} {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(tt.m), got, tt.want)
		}
	}
}
