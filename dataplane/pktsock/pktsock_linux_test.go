package pktsock_test

import (
	"errors"
	"net"
	"os"
	"testing"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/dataplane/pktsock"
)

// frame is a minimal Ethernet frame (an IPv4 ethertype, zero payload) to
// the broadcast address: sent into the lab's veth, answered by nobody.
func frame() []byte {
	f := make([]byte, 60)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00})
	return f
}

func TestSendAndBatch(t *testing.T) {
	lab := labtest.NewLab(t, netlab.Config{Prefix: "xmpk"})
	tests := []struct {
		name string
		opts pktsock.Options
	}{
		{"plain", pktsock.Options{}},
		{"tuned", pktsock.Options{QdiscBypass: true, SendTimeout: 100e6, SendBuffer: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *pktsock.Socket
			if err := lab.InSend(func() (err error) {
				ifc, err := net.InterfaceByName(lab.SendIf)
				if err != nil {
					return err
				}
				s, err = pktsock.Open(ifc.Index, tt.opts)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.Send(frame()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			b := pktsock.NewMsgBatch([][]byte{frame(), frame(), frame()})
			if n, err := s.SendBatch(b, 0, b.Len()); n != 3 || err != nil {
				t.Fatalf("SendBatch: got %d, %v, want 3, nil", n, err)
			}
			if n, err := s.SendBatch(b, 2, 2); n != 0 || err != nil {
				t.Fatalf("empty SendBatch: got %d, %v, want 0, nil", n, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if err := s.Send(frame()); !errors.Is(err, os.ErrClosed) {
				t.Errorf("Send after Close: got %v, want os.ErrClosed", err)
			}
			if _, err := s.SendBatch(b, 0, 1); !errors.Is(err, os.ErrClosed) {
				t.Errorf("SendBatch after Close: got %v, want os.ErrClosed", err)
			}
		})
	}
}

func TestOpenBadInterface(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_RAW")
	if _, err := pktsock.Open(1<<30, pktsock.Options{}); err == nil {
		t.Fatal("Open on a missing ifindex succeeded")
	}
}
