//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package xdpprog

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

// TestAttachNICHash attaches xdpmux_nichash: native on veth (whose driver
// implements xmo_rx_hash), it is the program attached; generic, it cannot
// be, and the plain program is attached with a note. Both claim and drop
// the same frames as the plain program.
func TestAttachNICHash(t *testing.T) {
	const count = 100
	for _, tt := range []struct {
		name        string
		opts        Options
		mode        Mode
		nicHash     bool
		noteContain string
	}{
		{"native", Options{NICHash: true, DropClaimed: true}, ModeNative, true, ""},
		{"generic", Options{NICHash: true, ForceGeneric: true, DropClaimed: true}, ModeGeneric, false, "generic mode"},
		{"off", Options{DropClaimed: true}, ModeNative, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := labtest.NewLab(t, netlab.Config{Queues: 2})
			p := attach(t, l, tt.opts)
			if p.Mode() != tt.mode || p.NICHash() != tt.nicHash {
				t.Fatalf("Mode %v, NICHash %v (note %q); want %v, %v", p.Mode(), p.NICHash(), p.NICHashNote(), tt.mode, tt.nicHash)
			}
			if note := p.NICHashNote(); (tt.noteContain == "") != (note == "") || !strings.Contains(note, tt.noteContain) {
				t.Errorf("NICHashNote() = %q, want one containing %q", note, tt.noteContain)
			}
			if err := p.Claim(ProtoUDP, l.RecvAddr, 7000); err != nil {
				t.Fatal(err)
			}
			send(t, l, 7000, count)
			waitCounters(t, p, func(s QueueCounters) bool { return s.Dropped >= count })
			if s := sum(counters(t, p)); s.Dropped != count {
				t.Errorf("counters %+v, want dropped %d", s, count)
			}
			st, fds, err := p.Handover()
			if err != nil {
				t.Fatal(err)
			}
			if st.NICHash != tt.nicHash || len(fds) != HandoverFDs {
				t.Errorf("Handover state NICHash %v, %d fds; want %v, %d", st.NICHash, len(fds), tt.nicHash, HandoverFDs)
			}
			// Another Program over the same objects knows which program
			// is attached; closing it leaves p's attachment in place.
			dups := make([]int, len(fds))
			for i, fd := range fds {
				if dups[i], err = unix.Dup(fd); err != nil {
					t.Fatal(err)
				}
			}
			q, err := Adopt(st, dups)
			if err != nil {
				t.Fatal(err)
			}
			if q.NICHash() != tt.nicHash || q.Mode() != tt.mode {
				t.Errorf("adopted: NICHash %v, mode %v; want %v, %v", q.NICHash(), q.Mode(), tt.nicHash, tt.mode)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			if !attached(t, l) {
				t.Error("closing the adopted Program detached the program")
			}
		})
	}
}
