package stderrbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestBufferKeepsTheFirstLimitBytes(t *testing.T) {
	var b Buffer
	line := strings.Repeat("x", 1000) + "\n"
	for i := 0; i < 2*Limit/len(line); i++ {
		if n, err := b.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(line))
		}
	}
	if got := len(b.String()); got != Limit {
		t.Errorf("kept %d bytes, want %d", got, Limit)
	}
}

func TestBufferTrims(t *testing.T) {
	var b Buffer
	b.Write([]byte("  error: no such device\n"))
	if got, want := b.String(), "error: no such device"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got, want := strings.Count(b.String(), "line"), 400; got != want {
		t.Errorf("%d lines, want %d", got, want)
	}
}
