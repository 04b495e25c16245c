package latency

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"

	"github.com/xdpmux/xdpmux/bench/internal/sys"
	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

// server is an echo server: a reuseport group whose members each send
// every request back to its sender, with its receive stamp (stamp).
type server interface {
	close() error
}

// kserver is the tuned kernel: members sockets with SO_REUSEPORT and
// SO_RCVBUF at net.core.rmem_max, each echoing with recvmmsg/sendmmsg.
type kserver struct {
	conns []*net.UDPConn
	wg    sync.WaitGroup
}

func startKernel(l *netlab.Lab, members int, port uint16) (*kserver, int, error) {
	s := &kserver{}
	var rcvbuf int
	err := l.InRecv(func() error {
		rmem, err := sys.RmemMax()
		if err != nil {
			return err
		}
		for range members {
			c, err := sys.ListenReusePort(netip.AddrPortFrom(netip.IPv4Unspecified(), port), rmem, 0)
			if err != nil {
				return err
			}
			s.conns = append(s.conns, c)
		}
		rcvbuf, err = sys.RcvBuf(s.conns[0])
		return err
	})
	if err != nil {
		return nil, 0, errors.Join(err, s.close())
	}
	clk := newClock()
	for _, c := range s.conns {
		s.wg.Go(func() { kernelEcho(clk, c) })
	}
	return s, rcvbuf, nil
}

func kernelEcho(clk clock, c *net.UDPConn) {
	pc := ipv4.NewPacketConn(c)
	in := make([]ipv4.Message, ReadBatch)
	out := make([]ipv4.Message, ReadBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 2048)}
		out[i].Buffers = [][]byte{nil}
	}
	for {
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			return
		}
		t := clk.mono + clk.now()
		for i := range in[:n] {
			out[i].Buffers[0] = in[i].Buffers[0][:in[i].N]
			out[i].Addr = in[i].Addr
			stamp(out[i].Buffers[0], t)
		}
		for done := 0; done < n; {
			k, err := pc.WriteBatch(out[done:n], 0)
			if err != nil || k <= 0 {
				break // the kernel dropped them: the client counts them lost
			}
			done += k
		}
	}
}

func (s *kserver) close() error {
	for _, c := range s.conns {
		c.Close()
	}
	s.wg.Wait()
	return nil
}

// xserver is xdpmux: dataplane.OpenInterface with a TX ring, a reuseport
// group of members endpoints echoing through Receive and Reply
// (SystemEndpoint), a Handler's Reply on the workers (SystemHandler) or
// PacketConn (SystemPacketConn).
type xserver struct {
	ifc *dataplane.Interface
	eps []*dataplane.Endpoint
	wg  sync.WaitGroup
}

// socketOptions: the dataplane's defaults plus a TX ring, as
// examples/dnsserver opens its interface.
func socketOptions() rxq.SocketOptions {
	so := rxq.DefaultSocketOptions()
	so.TXRingSize = 2048
	so.CompletionRingSize = 2048
	return so
}

func startXDPMux(l *netlab.Lab, system string, members int, port uint16) (*xserver, error) {
	s := &xserver{}
	err := l.InRecv(func() error {
		var err error
		s.ifc, err = dataplane.OpenInterface(dataplane.InterfaceConfig{Ifname: l.RecvIf, Socket: socketOptions()})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open interface: %w", err)
	}
	clk := newClock()
	var opts dataplane.EndpointOptions
	if system == SystemHandler {
		opts.Handler = func(ep *dataplane.Endpoint, frames []dataplane.Frame) { handlerEcho(clk, ep, frames) }
	}
	for i := range members {
		ep, err := s.ifc.Bind(pcb.Spec{
			Proto: pcb.UDP, Local: netip.AddrPortFrom(netip.IPv4Unspecified(), port),
			ReusePort: true, Owner: "xdpmux-latency", Name: fmt.Sprintf("echo#%d", i),
		}, opts)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("bind member %d: %w", i, err), s.close())
		}
		s.eps = append(s.eps, ep)
		switch system {
		case SystemHandler:
			// The workers call handlerEcho: no goroutine of ours.
		case SystemPacketConn:
			pc := ep.PacketConn()
			s.wg.Go(func() { packetConnEcho(clk, pc) })
		default:
			s.wg.Go(func() { endpointEcho(clk, ep) })
		}
	}
	return s, nil
}

// endpointEcho replies to each request with its own payload: Reply builds
// the reply in the request's frame (no copy) and takes the frame over.
func endpointEcho(clk clock, ep *dataplane.Endpoint) {
	batch := make([]dataplane.Frame, ReadBatch)
	ctx := context.Background()
	for {
		n, err := ep.Receive(ctx, batch)
		if err != nil {
			return
		}
		t := clk.mono + clk.now()
		for i := range batch[:n] {
			stamp(batch[i].Payload, t)
			_ = ep.Reply(&batch[i], batch[i].Payload) // a failed reply is a lost request
		}
	}
}

// handlerEcho is endpointEcho run to completion: the queue's worker calls
// it with each batch and the replies go straight to its TX batch.
func handlerEcho(clk clock, ep *dataplane.Endpoint, frames []dataplane.Frame) {
	t := clk.mono + clk.now()
	for i := range frames {
		stamp(frames[i].Payload, t)
		_ = ep.Reply(&frames[i], frames[i].Payload) // a failed reply is a lost request
	}
}

func packetConnEcho(clk clock, pc net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		stamp(buf[:n], clk.mono+clk.now())
		_, _ = pc.WriteTo(buf[:n], addr)
	}
}

func (s *xserver) close() error {
	var errs []error
	for _, ep := range s.eps {
		errs = append(errs, ep.Close())
	}
	s.wg.Wait()
	if s.ifc != nil {
		errs = append(errs, s.ifc.CheckFrames(), s.ifc.Close())
	}
	return errors.Join(errs...)
}
