package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type burst struct {
		at time.Duration // since t0
		n  int           // records logged
	}
	for _, tc := range []struct {
		name   string
		max    int
		bursts []burst
		want   []string // messages written, in order
	}{
		{"under budget", 3, []burst{{0, 3}}, []string{"r", "r", "r"}},
		{"over, never reported without a later record", 2, []burst{{0, 5}}, []string{"r", "r"}},
		{"over, reported in the next window", 2, []burst{{0, 5}, {1500 * time.Millisecond, 1}},
			[]string{"r", "r", "suppressed 3 records", "r"}},
		{"same window stays shut", 2, []burst{{0, 3}, {999 * time.Millisecond, 2}}, []string{"r", "r"}},
		{"report counts against the budget", 2, []burst{{0, 4}, {time.Second, 3}},
			[]string{"r", "r", "suppressed 2 records", "r"}},
		{"flood of 10000", 10, []burst{{0, 10000}, {time.Second, 1}},
			append(strings.Split(strings.Repeat("r,", 10), ",")[:10], "suppressed 9990 records", "r")},
		{"at least one a second", 0, []burst{{0, 2}}, []string{"r"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			now := t0
			h := newWithClock(slog.NewTextHandler(&buf, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key != slog.MessageKey {
						return slog.Attr{}
					}
					return a
				}}), tc.max, func() time.Time { return now })
			log := slog.New(h)
			for _, b := range tc.bursts {
				now = t0.Add(b.at)
				for i := range b.n {
					if i%2 == 0 {
						log.Info("r")
					} else {
						log.With("client", i).Info("r") // derived loggers share the budget
					}
				}
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if line != "" {
					got = append(got, strings.Trim(strings.TrimPrefix(line, "msg="), `"`))
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEnabledPassesLevel(t *testing.T) {
	h := New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelInfo}), 10)
	if h.Enabled(t.Context(), slog.LevelDebug) || !h.Enabled(t.Context(), slog.LevelWarn) {
		t.Errorf("Enabled does not follow the wrapped handler's level")
	}
}
