package txgen

import (
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/dataplane/pktsock"
	"github.com/xdpmux/xdpmux/rxq"
)

// packetSndBuf is the socket send buffer asked for: room for a few
// batches of large frames.
const packetSndBuf = 4 << 20

// packetSender sends through one AF_PACKET socket with sendmmsg, from
// BatchSize buffers that hold the common frame from the start.
type packetSender struct {
	sock  *pktsock.Socket
	bufs  [][]byte
	batch *pktsock.MsgBatch
	cur   *cursor
}

func newPacketSender(ifindex int, qdiscBypass bool, size int, fr *frames, cur *cursor) (*packetSender, error) {
	sock, err := pktsock.Open(ifindex, pktsock.Options{
		QdiscBypass: qdiscBypass, SendTimeout: 100 * time.Millisecond, SendBuffer: packetSndBuf,
	})
	if err != nil {
		return nil, err
	}
	s := &packetSender{sock: sock, cur: cur, bufs: make([][]byte, rxq.BatchSize)}
	mem := make([]byte, size*rxq.BatchSize)
	for i := range s.bufs {
		s.bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
		copy(s.bufs[i], fr.base)
	}
	s.batch = pktsock.NewMsgBatch(s.bufs)
	return s, nil
}

func (s *packetSender) run(stop *atomic.Bool, quota uint64, p *pacer, c *counters) error {
	stopped := stop.Load
	var done uint64
	for done < quota && !stop.Load() {
		n := p.take(int(min(uint64(rxq.BatchSize), quota-done)), stopped)
		if n == 0 {
			break
		}
		for _, b := range s.bufs[:n] {
			s.cur.stampNext(b)
		}
		for off := 0; off < n; {
			r, err := s.sock.SendBatch(s.batch, off, n)
			if r > 0 {
				off += r
				c.sent.Add(uint64(r))
			}
			switch err {
			case nil:
			case unix.EINTR, unix.EAGAIN:
				if stop.Load() {
					c.errors.Add(uint64(n - off))
					off = n
				}
			case unix.ENOBUFS:
				// Dropped by the device or queue: count and go on.
				c.errors.Add(1)
				off++
			default:
				return os.NewSyscallError("sendmmsg", err)
			}
		}
		done += uint64(n)
	}
	return nil
}

func (s *packetSender) close() error { return s.sock.Close() }
