package report

import (
	"strings"
	"testing"
)

// Right-aligned columns, each as wide as its widest cell and two spaces
// of padding.
func TestNewTable(t *testing.T) {
	var sb strings.Builder
	tw := NewTable(&sb)
	tw.Write([]byte("a\tbb\t\nccc\td\t\n"))
	tw.Flush()
	if got, want := sb.String(), "    a  bb\n  ccc   d\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
