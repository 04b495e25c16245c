// Package ratelog bounds how fast a logger writes: a slog.Handler that
// passes at most N records per second and counts the others. The control
// socket logs through it, so that a local user opening and closing
// connections as fast as it can cannot fill the daemon's disk or drown its
// other records.
//
// Records are counted in fixed one-second windows. Once a window's N
// records are passed, the rest of the window's records are dropped and
// counted; the first record of a later window is preceded by one Warn
// record "suppressed K records". Handlers derived by WithAttrs and
// WithGroup share their parent's budget.
package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Handler is a rate-limited slog.Handler. It is safe for concurrent use.
type Handler struct {
	inner slog.Handler
	l     *limiter
}

var _ slog.Handler = (*Handler)(nil)

type limiter struct {
	root slog.Handler // where the suppressed line goes (no attrs of a derived handler)
	max  int
	now  func() time.Time

	mu         sync.Mutex
	window     time.Time // start of the current window
	passed     int       // records passed in it
	suppressed uint64    // records dropped since the last suppressed line
}

// New returns a Handler passing at most perSecond records a second to h
// (at least 1).
func New(h slog.Handler, perSecond int) *Handler {
	return newWithClock(h, perSecond, time.Now)
}

func newWithClock(h slog.Handler, perSecond int, now func() time.Time) *Handler {
	return &Handler{inner: h, l: &limiter{root: h, max: max(perSecond, 1), now: now}}
}

// Enabled reports whether the wrapped handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle passes r on unless this second's budget is spent.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	ok, suppressed, now := h.l.take()
	if !ok {
		return nil
	}
	if suppressed > 0 {
		s := slog.NewRecord(now, slog.LevelWarn, fmt.Sprintf("suppressed %d records", suppressed), 0)
		s.AddAttrs(slog.Uint64("suppressed", suppressed))
		if err := h.l.root.Handle(ctx, s); err != nil {
			return err
		}
	}
	return h.inner.Handle(ctx, r)
}

// take spends one record of the budget: ok says whether it may pass, and
// suppressed how many were dropped before it (to be reported first).
func (l *limiter) take() (ok bool, suppressed uint64, now time.Time) {
	now = l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= time.Second || now.Before(l.window) {
		l.window, l.passed = now, 0
	}
	if l.passed >= l.max {
		l.suppressed++
		return false, 0, now
	}
	l.passed++
	if l.suppressed > 0 {
		l.passed++ // the suppressed line counts too
		suppressed, l.suppressed = l.suppressed, 0
	}
	return true, suppressed, now
}

// Suppressed returns how many records are dropped and not yet reported.
func (h *Handler) Suppressed() uint64 {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	return h.l.suppressed
}

// WithAttrs returns a Handler sharing h's budget.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs), l: h.l}
}

// WithGroup returns a Handler sharing h's budget.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), l: h.l}
}
