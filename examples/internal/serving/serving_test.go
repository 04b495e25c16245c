package serving

import (
	"errors"
	"os"
	"reflect"
	"syscall"
	"testing"
)

func TestParseQueues(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []int
		err  bool
	}{
		{"", nil, false},
		{"0", []int{0}, false},
		{"0, 2,3", []int{0, 2, 3}, false},
		{"0,x", nil, true},
		{"0,", nil, true},
	} {
		got, err := ParseQueues(tt.in)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseQueues(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestWaitFailed(t *testing.T) {
	failed := make(chan error, 1)
	want := errors.New("member 1: gone")
	if err := Wait(func() { failed <- want }, failed, nil); err != want {
		t.Errorf("Wait = %v, want %v", err, want)
	}
}

// TestWaitSignals: a signal sent from ready is caught, not fatal; the
// signals in on are handled and the wait goes on until SIGTERM.
func TestWaitSignals(t *testing.T) {
	self := os.Getpid()
	usr1 := make(chan struct{})
	var calls int
	on := map[os.Signal]func(){syscall.SIGUSR1: func() {
		calls++
		if calls == 2 {
			close(usr1)
			if err := syscall.Kill(self, syscall.SIGTERM); err != nil {
				t.Error(err)
			}
			return
		}
		if err := syscall.Kill(self, syscall.SIGUSR1); err != nil {
			t.Error(err)
		}
	}}
	ready := func() {
		if err := syscall.Kill(self, syscall.SIGUSR1); err != nil {
			t.Error(err)
		}
	}
	if err := Wait(ready, nil, on); err != nil {
		t.Errorf("Wait = %v, want nil", err)
	}
	select {
	case <-usr1:
	default:
		t.Errorf("SIGUSR1 handled %d times, want 2", calls)
	}
}
