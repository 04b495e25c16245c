package stderrbuf

import (
	"bytes"
	"strings"
	"sync"
)

// Limit is how many bytes a Buffer keeps: enough to say what went wrong,
// and a bound on what a chatty child that runs for minutes can cost.
const Limit = 64 << 10

// Buffer keeps the first Limit bytes written to it and drops the rest.
// It is safe for concurrent use: exec.Cmd's copier writes while the
// harness reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write keeps what fits under Limit; it never fails, so that the child is
// never blocked or broken by a full buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := Limit - b.b.Len(); room < len(p) {
		b.b.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.b.Write(p)
}

// String returns what was kept, without leading and trailing white space,
// ready to be appended to an error.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.b.String())
}
