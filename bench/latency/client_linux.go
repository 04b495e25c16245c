package latency

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/bench/lab"
)

// A request's payload: send time (ns since the harness's base), run id,
// epoch (max load), the server's receive stamp (0 in the request), then
// filler up to the payload size. The servers echo it, stamped.
const (
	offTime   = 0
	offRun    = 8
	offEpoch  = 12
	offServer = 16
)

// clock is a time base: now is nanoseconds since base (the runtime's
// monotonic clock, no syscall), and mono is CLOCK_MONOTONIC at base, so
// that mono+now is a time every process on the machine reads the same.
type clock struct {
	base time.Time
	mono uint64
}

func newClock() clock {
	var ts unix.Timespec
	base := time.Now()
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return clock{base: base, mono: uint64(ts.Nano())}
}

func (c clock) now() uint64 { return uint64(time.Since(c.base)) }

// stamp writes the server's receive time t (CLOCK_MONOTONIC ns) into a
// request about to be echoed.
func stamp(b []byte, t uint64) {
	if len(b) >= minPayload {
		binary.LittleEndian.PutUint64(b[offServer:], t)
	}
}

// client is one kernel UDP socket in the sending namespace, connected to
// the server: one flow. Its histogram and counts are for one run.
type client struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn
	out  []ipv4.Message
	in   []ipv4.Message
	hist Hist
	// req and rep split each round trip at the server's stamp: the
	// request's leg and the reply's.
	req, rep Hist
	sent     atomic.Uint64 // requests of the window sent
	recv     uint64        // replies to requests of the window (receiver only)
}

func newClient(src, dst netip.AddrPort, batch, payload int) (*client, error) {
	c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(src), net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(8 << 20)
	_ = c.SetWriteBuffer(8 << 20)
	cl := &client{conn: c, pc: ipv4.NewPacketConn(c)}
	cl.out = make([]ipv4.Message, batch)
	for i := range cl.out {
		b := make([]byte, 1472)
		for j := range b {
			b[j] = 'x'
		}
		cl.out[i].Buffers = [][]byte{b[:payload]}
	}
	cl.in = make([]ipv4.Message, batch)
	for i := range cl.in {
		cl.in[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	return cl, nil
}

func (c *client) setPayload(n int) {
	for i := range c.out {
		c.out[i].Buffers[0] = c.out[i].Buffers[0][:n]
	}
}

// window is one run's timing: requests stamped in [w0, w1) count; the
// clients stop sending at w1 and wait for replies until end.
type window struct {
	clk    clock
	run    uint32
	w0, w1 uint64
	end    time.Time
}

// send stamps and sends k requests; it returns how many left.
func (c *client) send(w *window, k int, epoch uint32) int {
	now := w.clk.now()
	for i := range c.out[:k] {
		b := c.out[i].Buffers[0]
		binary.LittleEndian.PutUint64(b[offTime:], now)
		binary.LittleEndian.PutUint32(b[offRun:], w.run)
		binary.LittleEndian.PutUint32(b[offEpoch:], epoch)
		binary.LittleEndian.PutUint64(b[offServer:], 0)
	}
	n, err := c.pc.WriteBatch(c.out[:k], 0)
	if err != nil && n <= 0 {
		return 0
	}
	if now >= w.w0 && now < w.w1 {
		c.sent.Add(uint64(n))
	}
	return n
}

// receive reads one batch (until the read deadline) and records the
// replies of this run; it returns how many replies of epoch it saw, or an
// error: os.ErrDeadlineExceeded at the deadline, net.ErrClosed. Other
// errors (a connected socket reports an ICMP port unreachable, say for a
// late request of the previous run) read as an empty batch.
func (c *client) receive(w *window, epoch uint32) (int, error) {
	n, err := c.pc.ReadBatch(c.in, 0)
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
		return 0, err
	}
	if err != nil {
		return 0, nil
	}
	now := w.clk.now()
	mine := 0
	for i := range c.in[:n] {
		b := c.in[i].Buffers[0][:c.in[i].N]
		if len(b) < minPayload || binary.LittleEndian.Uint32(b[offRun:]) != w.run {
			continue // a late reply from an earlier run
		}
		if binary.LittleEndian.Uint32(b[offEpoch:]) == epoch {
			mine++
		}
		ts := binary.LittleEndian.Uint64(b[offTime:])
		if ts >= w.w0 && ts < w.w1 && now >= ts {
			c.hist.Record(now - ts)
			c.recv++
			// The server's stamp, on this clock; a server that did not
			// stamp (or a clock read that went wrong) leaves the legs out.
			if srv := binary.LittleEndian.Uint64(b[offServer:]); srv >= w.clk.mono+ts && srv <= w.clk.mono+now {
				at := srv - w.clk.mono
				c.req.Record(at - ts)
				c.rep.Record(now - at)
			}
		}
	}
	return mine, nil
}

// runFixed sends at rate pps (open loop) from one goroutine and reads the
// replies in another, until w.end.
func (c *client) runFixed(w *window, rate float64) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = c.conn.SetReadDeadline(w.end)
		for {
			if _, err := c.receive(w, 0); err != nil {
				return
			}
		}
	})
	t0 := w.clk.now()
	var next uint64
	for {
		now := w.clk.now()
		if now >= w.w1 {
			break
		}
		due := uint64(float64(now-t0) * rate / 1e9)
		if due <= next {
			// Sleep until the next request is due (the timer's slack
			// is made up by sending what became due at once).
			at := t0 + uint64(float64(next+1)*1e9/rate)
			time.Sleep(time.Duration(max(int64(at)-int64(now), int64(20*time.Microsecond))))
			continue
		}
		k := int(min(due-next, uint64(len(c.out))))
		c.send(w, k, 0)
		next += uint64(k)
	}
	wg.Wait()
}

// runMax keeps outstanding requests in flight (closed loop) until w.w1,
// then waits for the window's replies until w.end. A client that sees no
// reply for timeout counts its requests as lost (by leaving them
// unanswered) and starts a new epoch.
func (c *client) runMax(w *window, outstanding int, timeout time.Duration) {
	inflight := 0
	var epoch uint32
	for {
		now := time.Now()
		if !now.Before(w.end) {
			return
		}
		sending := w.clk.now() < w.w1
		if sending {
			for inflight < outstanding {
				n := c.send(w, min(outstanding-inflight, len(c.out)), epoch)
				if n == 0 {
					break
				}
				inflight += n
			}
		} else if inflight == 0 {
			return
		}
		dl := now.Add(timeout)
		if dl.After(w.end) {
			dl = w.end
		}
		_ = c.conn.SetReadDeadline(dl)
		n, err := c.receive(w, epoch)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			epoch++
			inflight = 0
			continue
		}
		if err != nil {
			return
		}
		inflight = max(inflight-n, 0)
	}
}

// reset clears the per-run state.
func (c *client) reset() {
	c.hist, c.req, c.rep = Hist{}, Hist{}, Hist{}
	c.sent.Store(0)
	c.recv = 0
}

// ReadBatch is the servers' batch: lab.ReadBatch, as in the throughput
// benchmark.
const ReadBatch = lab.ReadBatch
