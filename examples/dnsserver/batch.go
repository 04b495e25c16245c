package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/xdpmux/xdpmux/dataplane"
)

// batchSize is how many queries a -batch reader takes per call: one
// Endpoint.Receive (xdpmux) or one recvmmsg(2) (kernel).
const batchSize = 64

// maxQuery is the largest query a kernel -batch reader accepts (a larger
// datagram is truncated by recvmmsg and fails to unpack); answers are
// packed into buffers of the same size.
const maxQuery = 1500

// respond unpacks query, answers it from the zone and packs the answer
// into buf. ok is false for a query that does not unpack or an answer that
// does not pack: the -batch servers drop those, as dns.Server drops what
// its MsgAcceptFunc rejects without a header it can answer.
func respond(query, buf []byte) (out []byte, ok bool) {
	var r, m dns.Msg
	if r.Unpack(query) != nil || r.Response {
		return nil, false
	}
	answer(&m, &r)
	out, err := m.PackBuffer(buf)
	return out, err == nil
}

// serveEndpoint answers queries on ep with the batch API until ctx ends:
// one Receive per batch, each answer built in the query's own UMEM frame
// by Reply (docs/REPLIES.md), on the worker's queue. No goroutine per
// query and no copy through a PacketConn.
func serveEndpoint(ctx context.Context, ep *dataplane.Endpoint) error {
	batch := make([]dataplane.Frame, batchSize)
	buf := make([]byte, maxQuery)
	for {
		n, err := ep.Receive(ctx, batch)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, dataplane.ErrClosed) {
				return nil
			}
			return fmt.Errorf("receive: %w", err)
		}
		for i := range batch[:n] {
			f := &batch[i]
			out, ok := respond(f.Payload, buf)
			if !ok {
				ep.Release(batch[i : i+1])
				continue
			}
			// Reply releases f whatever it returns; a reply the TX ring
			// has no room for is counted by the dataplane (TXStats).
			_ = ep.Reply(f, out)
		}
	}
}

// handleFrames is the -handler variant (xdpmux only): a run-to-completion
// Handler (dataplane.EndpointOptions, docs/DATAPLANE.md "Run to
// completion") that answers each batch of queries on the queue's worker
// itself, as serveEndpoint does but with no delivery ring, no Receive and
// no wake-up of a member goroutine. The worker releases the queries it
// does not reply to. Workers of different queues call it at once for the
// same endpoint, so the scratch buffer comes from a pool.
func handleFrames(ep *dataplane.Endpoint, frames []dataplane.Frame) {
	bp := scratch.Get().(*[]byte)
	for i := range frames {
		f := &frames[i]
		if out, ok := respond(f.Payload, *bp); ok {
			_ = ep.Reply(f, out) // a full TX ring is counted (TXStats)
		}
	}
	scratch.Put(bp)
}

// scratch holds handleFrames' answer buffers.
var scratch = sync.Pool{New: func() any { b := make([]byte, maxQuery); return &b }}

// batchConn is what serveKernel needs of x/net's ipv4 and ipv6 PacketConns
// (their Message is one type, socket.Message).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// serveKernel answers queries on a kernel UDP socket with recvmmsg(2) and
// sendmmsg(2) (golang.org/x/net/ipv4's ReadBatch and WriteBatch), batchSize
// at a time: the kernel variant of -batch, tuned as xdpmux's readers are.
// It returns nil once c is closed.
func serveKernel(c *net.UDPConn) error {
	var pc batchConn = ipv4.NewPacketConn(c)
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil {
		pc = ipv6.NewPacketConn(c) // [::]: IPv6 and mapped IPv4 addresses
	}
	in := make([]ipv4.Message, batchSize)
	out := make([]ipv4.Message, batchSize)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, maxQuery)}
		out[i].Buffers = [][]byte{make([]byte, maxQuery)}
	}
	bufs := make([][]byte, batchSize) // out's buffers, which each answer shortens
	for i := range out {
		bufs[i] = out[i].Buffers[0]
	}
	for {
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("recvmmsg: %w", err)
		}
		k := 0
		for i := range in[:n] {
			ans, ok := respond(in[i].Buffers[0][:in[i].N], bufs[k])
			if !ok {
				continue
			}
			out[k].Buffers[0], out[k].Addr = ans, in[i].Addr
			k++
		}
		for sent := 0; sent < k; {
			w, err := pc.WriteBatch(out[sent:k], 0)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return nil
				}
				return fmt.Errorf("sendmmsg: %w", err)
			}
			sent += w
		}
	}
}
