package ctl

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl/internal/sockio"
	"github.com/xdpmux/xdpmux/rxq"
)

// pumpWait bounds how long the pump waits for a client's socket buffer to
// take one message. A client that reads, but is slower than a burst for a
// moment, loses nothing: meanwhile its frames wait on its delivery rings,
// within its frame budget. A client that does not read costs its own pump
// pumpWait per message, and its overflow is dropped and counted on it.
const pumpWait = 250 * time.Millisecond

// pump copies frames from ep to the client until ep closes or a write
// fails. Every batch is copied out and released before the first write,
// so the pump never holds UMEM frames while it writes. A message that does
// not fit in the client's socket buffer now (MSG_DONTWAIT) is written with
// a deadline of pumpWait; if that passes it is dropped and its frames
// counted in the client's Dropped. Either way the frames the client has
// not taken stay on its delivery rings, bounded by its frame budget, so a
// stalled client takes nothing from anyone else.
func (s *Server) pump(c *client, ep *dataplane.Endpoint, log *slog.Logger) {
	batch := make([]dataplane.Frame, rxq.BatchSize)
	var (
		msgs   [][]byte // reused message buffers
		counts []int    // frames in each
	)
	proto := ep.Spec().Proto
	for {
		n, err := ep.Receive(s.ctx, batch)
		if err != nil {
			return
		}
		nmsg := 0
		for i := range batch[:n] {
			f := &batch[i]
			if nmsg == 0 || len(msgs[nmsg-1])+frameRecordLen(f) > MaxMessage {
				if nmsg == len(msgs) {
					msgs = append(msgs, make([]byte, 0, MaxMessage))
					counts = append(counts, 0)
				}
				m := appendHeader(msgs[nmsg][:0], TypeFrames)
				msgs[nmsg] = append(m, 0, 0, 0, 0) // count, reserved
				counts[nmsg] = 0
				nmsg++
			}
			msgs[nmsg-1] = appendFrame(msgs[nmsg-1], proto, f)
			counts[nmsg-1]++
		}
		ep.Release(batch[:n])
		for i, m := range msgs[:nmsg] {
			putCount(m, counts[i])
			err := sockio.SendNoWait(c.conn, m)
			if errors.Is(err, sockio.ErrWouldBlock) {
				c.conn.SetWriteDeadline(time.Now().Add(pumpWait))
				if _, err = c.conn.Write(m); errors.Is(err, os.ErrDeadlineExceeded) {
					err = sockio.ErrWouldBlock
				}
			}
			switch {
			case err == nil:
				c.sent.Add(uint64(counts[i]))
			case errors.Is(err, sockio.ErrWouldBlock):
				c.dropped.Add(uint64(counts[i]))
			default:
				if !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
					log.Debug("control client write", "err", err)
				}
				c.conn.Close() // ends the request loop, which closes ep
				return
			}
		}
	}
}

func putCount(msg []byte, count int) {
	msg[HeaderLen] = byte(count >> 8)
	msg[HeaderLen+1] = byte(count)
}
