package labtest

import (
	"net"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab"
)

// TestStartInRecv: start runs in the receiving namespace (the receiving
// veth is there), and stop gets what start returned when the test ends.
func TestStartInRecv(t *testing.T) {
	lab := NewLab(t, netlab.Config{Queues: 1, Prefix: "xmlabt"})
	var stopped []string
	t.Run("server", func(t *testing.T) {
		got := StartInRecv(t, lab, func() (string, error) {
			ifc, err := net.InterfaceByName(lab.RecvIf)
			if err != nil {
				return "", err
			}
			return ifc.Name, nil
		}, func(name string) error {
			stopped = append(stopped, name)
			return nil
		})
		if got != lab.RecvIf {
			t.Errorf("start returned %q, want %q", got, lab.RecvIf)
		}
		if len(stopped) != 0 {
			t.Errorf("stopped before the test ended: %q", stopped)
		}
	})
	if len(stopped) != 1 || stopped[0] != lab.RecvIf {
		t.Errorf("stop called with %q, want once with %q", stopped, lab.RecvIf)
	}
}
