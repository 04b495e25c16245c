package txgen

import "time"

// pacer is a token bucket refilled once per batch. One goroutine; not safe
// for concurrent use.
type pacer struct {
	rate   float64 // tokens (packets) per second; 0: no limit
	tokens float64
	max    float64 // bucket depth
	want   float64 // tokens to wait for before sending a batch
	last   time.Time
}

// newPacer paces rate packets per second in batches of at most batch.
func newPacer(rate float64, batch int) pacer {
	if rate <= 0 {
		return pacer{}
	}
	// Wait for about 1 ms worth of packets (between 1 and a batch), and
	// allow a burst of 10 ms to catch up after a late wake-up.
	want := min(max(rate/1000, 1), float64(batch))
	return pacer{rate: rate, want: want, max: max(rate/100, float64(batch)), tokens: want}
}

// take returns how many packets (1 to n) may be sent now, sleeping until
// at least want tokens are there. stop is checked while sleeping; when it
// reports true, take returns 0.
func (p *pacer) take(n int, stop func() bool) int {
	if p.rate == 0 || n <= 0 {
		return n
	}
	for {
		now := time.Now()
		if !p.last.IsZero() {
			p.tokens = min(p.tokens+now.Sub(p.last).Seconds()*p.rate, p.max)
		}
		p.last = now
		if p.tokens >= p.want || p.tokens >= float64(n) {
			break
		}
		if stop() {
			return 0
		}
		need := min(p.want, float64(n)) - p.tokens
		time.Sleep(time.Duration(need / p.rate * float64(time.Second)))
	}
	got := min(n, int(p.tokens))
	p.tokens -= float64(got)
	return got
}

// giveBack returns n unused tokens.
func (p *pacer) giveBack(n int) {
	if p.rate != 0 {
		p.tokens += float64(n)
	}
}
