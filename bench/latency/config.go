package latency

import (
	"fmt"
	"log"
	"time"
)

// minPayload is the smallest request: a timestamp (8 bytes), a run id
// and an epoch (4 bytes each), and the server's receive stamp (8 bytes).
const minPayload = 24

// Config describes a latency run. The zero value of each field means its
// default; Quick() gives the CI smoke-run settings.
type Config struct {
	// Members is the size of the servers' reuseport group (default 2,
	// like examples/dnsserver's benchmark); Clients the client sockets
	// in the sending namespace, each its own flow (default 4);
	// Outstanding the requests each client keeps in flight at max
	// (default 32).
	Members, Clients, Outstanding int
	// Payloads are the UDP payload sizes measured (default 64 and 100, a
	// DNS-sized query); the reply is the request echoed.
	Payloads []int
	// Rates are the fixed request rates in pps (default 10k, 100k); a
	// last fixed rate is MaxShare (default 0.9) of the lowest max rate
	// any system reached for that payload, the same for every system.
	Rates    []float64
	MaxShare float64
	// Warmup is the time the clients send before each window (default
	// 1 s), Window the measured time (default 3 s), Drain how long the
	// clients wait for the window's last replies (default 200 ms).
	Warmup, Window, Drain time.Duration
	// ReplyTimeout: at max, a client that gets no reply for this long
	// counts its requests in flight as lost and sends anew (default
	// 100 ms).
	ReplyTimeout time.Duration
	// Port is the servers' UDP port (default 9100).
	Port uint16
	// Prefix names the lab's namespaces and interfaces (default "xlat").
	Prefix string
	// Skip names systems not to measure.
	Skip map[string]bool
	// NoMax skips the max runs, and so the run at MaxShare of max: only
	// Rates are measured (for profiling one rate).
	NoMax bool
	// Quick marks the report as a smoke run.
	Quick bool
	// Logf receives progress lines (default log.Printf).
	Logf func(format string, args ...any)
}

// Quick returns the CI smoke-run settings: both payloads, max and one low
// fixed rate (plus the share of max), short windows; well under a minute.
func Quick() Config {
	return Config{
		Rates:  []float64{10000},
		Warmup: 200 * time.Millisecond, Window: 300 * time.Millisecond, Drain: 100 * time.Millisecond,
		Quick: true,
	}
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// maxClients bounds Clients (each is a source port and two goroutines).
const maxClients = 64

func (c *Config) fill() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Members, 2)
	def(&c.Clients, 4)
	def(&c.Outstanding, 32)
	if c.Members < 1 || c.Members > 64 || c.Clients < 1 || c.Clients > maxClients || c.Outstanding < 1 || c.Outstanding > 4096 {
		return fmt.Errorf("latency: members %d (1-64), clients %d (1-%d), outstanding %d (1-4096)",
			c.Members, c.Clients, maxClients, c.Outstanding)
	}
	if len(c.Payloads) == 0 {
		c.Payloads = []int{64, 100}
	}
	for _, p := range c.Payloads {
		if p < minPayload || p > 1472 {
			return fmt.Errorf("latency: payload %d: want %d to 1472", p, minPayload)
		}
	}
	if c.Rates == nil {
		c.Rates = []float64{10000, 100000}
	}
	for _, r := range c.Rates {
		if r <= 0 {
			return fmt.Errorf("latency: rate %v: want > 0", r)
		}
	}
	if c.MaxShare == 0 {
		c.MaxShare = 0.9
	}
	if c.MaxShare < 0 || c.MaxShare > 1 {
		return fmt.Errorf("latency: max share %v: want 0 to 1", c.MaxShare)
	}
	durs := []struct {
		v *time.Duration
		d time.Duration
	}{{&c.Warmup, time.Second}, {&c.Window, 3 * time.Second}, {&c.Drain, 200 * time.Millisecond}, {&c.ReplyTimeout, 100 * time.Millisecond}}
	for _, d := range durs {
		if *d.v == 0 {
			*d.v = d.d
		}
		if *d.v < 0 {
			return fmt.Errorf("latency: negative duration %v", *d.v)
		}
	}
	if c.Port == 0 {
		c.Port = 9100
	}
	if c.Prefix == "" {
		c.Prefix = "xlat"
	}
	return nil
}
