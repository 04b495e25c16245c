// Command dnsserver is an authoritative DNS server for example.test. built
// on github.com/miekg/dns, unmodified: its dns.Server reads and writes
// through net.PacketConn, and the PacketConns here are xdpmux endpoints, a
// SO_REUSEPORT group of -members of them on the -listen address, served by
// the AF_XDP queues of -iface (XDP program, one socket and worker per
// queue, replies on each queue's TX ring). With -kernel the same handler
// runs on -members kernel SO_REUSEPORT UDP sockets instead, for comparison
// (-iface is then unused). With -batch the same answers come from a loop
// per member on the batch APIs instead of dns.Server: Endpoint.Receive and
// Reply (xdpmux), recvmmsg and sendmmsg (kernel). With -handler (xdpmux
// only) they are computed on the queues' workers themselves, a
// run-to-completion Handler per member: no member goroutine at all.
//
//	dnsserver -iface eth1 -members 4 -listen 0.0.0.0:53
//	dnsserver -kernel -members 4 -listen 0.0.0.0:53
//	dnsserver -batch -iface eth1 -members 4 -listen 0.0.0.0:53
//	dnsserver -handler -iface eth1 -members 4 -listen 0.0.0.0:53
//
// Run it in the network namespace of the interface (ip netns exec). It
// serves until SIGINT or SIGTERM, then prints the dataplane's counters.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/miekg/dns"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/examples/internal/reuseport"
	"github.com/xdpmux/xdpmux/examples/internal/serving"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options configure a server.
type options struct {
	Iface   string
	Queues  []int // nil: every queue
	Members int
	Listen  netip.AddrPort
	Kernel  bool
	Batch   bool // serve with the batch APIs (batch.go), not dns.Server
	Handler bool // xdpmux only: answer on the queues' workers (handleFrames)
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dnsserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	iface := fs.String("iface", "", "interface to serve (xdpmux variant)")
	queues := fs.String("queues", "", "comma-separated receive queues (default: all)")
	members := fs.Int("members", 2, "number of reuseport endpoints or sockets")
	listen := fs.String("listen", "0.0.0.0:53", "address and port to answer on")
	kernel := fs.Bool("kernel", false, "use kernel SO_REUSEPORT UDP sockets instead of xdpmux")
	batch := fs.Bool("batch", false, "answer from a batch loop per member (Receive+Reply, or recvmmsg+sendmmsg) instead of dns.Server")
	handler := fs.Bool("handler", false, "answer on the queues' workers, run to completion (xdpmux only)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o := options{Iface: *iface, Members: *members, Kernel: *kernel, Batch: *batch, Handler: *handler}
	if o.Handler && (o.Kernel || o.Batch) {
		fmt.Fprintln(stderr, "dnsserver: -handler is the xdpmux variant's own way to answer: not with -kernel or -batch")
		return 2
	}
	var err error
	if o.Listen, err = netip.ParseAddrPort(*listen); err != nil {
		fmt.Fprintf(stderr, "dnsserver: -listen %q: %v\n", *listen, err)
		return 2
	}
	if o.Queues, err = serving.ParseQueues(*queues); err != nil {
		fmt.Fprintf(stderr, "dnsserver: -queues %q: %v\n", *queues, err)
		return 2
	}
	if !o.Kernel && o.Iface == "" {
		fmt.Fprintln(stderr, "dnsserver: -iface is required (or -kernel)")
		return 2
	}
	if o.Members < 1 {
		fmt.Fprintf(stderr, "dnsserver: -members %d: must be at least 1\n", o.Members)
		return 2
	}
	s, err := start(o)
	if err != nil {
		fmt.Fprintf(stderr, "dnsserver: %v\n", err)
		return 1
	}
	variant := "xdpmux on " + o.Iface
	if o.Kernel {
		variant = "kernel SO_REUSEPORT"
	}
	if o.Batch {
		variant += ", batch loops"
	}
	if o.Handler {
		variant += ", run to completion"
	}
	ready := func() {
		fmt.Fprintf(stdout, "dnsserver: serving %s on %s, %d members (%s)\n", Zone, o.Listen, o.Members, variant)
	}
	if err = serving.Wait(ready, s.failed, nil); err != nil {
		fmt.Fprintf(stderr, "dnsserver: %v\n", err)
	}
	s.report(stdout)
	if cerr := s.close(); cerr != nil {
		fmt.Fprintf(stderr, "dnsserver: %v\n", cerr)
		return 1
	}
	if err != nil {
		return 1
	}
	return 0
}

// server is a running set of dns.Servers, one per PacketConn.
type server struct {
	ifc    *dataplane.Interface // nil for -kernel
	pcs    []net.PacketConn
	rcvbuf int // -kernel: each socket's SO_RCVBUF (net.core.rmem_max, doubled)
	srvs   []*dns.Server
	failed chan error

	// -batch: the loops' context and how many still run.
	cancel context.CancelFunc
	loops  sync.WaitGroup
}

// socketOptions are the AF_XDP socket options of the xdpmux variant: the
// defaults plus a TX ring, which replies need.
func socketOptions() rxq.SocketOptions {
	so := rxq.DefaultSocketOptions()
	so.TXRingSize = 2048
	so.CompletionRingSize = 2048
	return so
}

// start opens the PacketConns (in the calling OS thread's network
// namespace) and starts a dns.Server on each; it returns once all serve.
func start(o options) (_ *server, err error) {
	s := &server{failed: make(chan error, o.Members), cancel: func() {}}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.close())
		}
	}()
	var eps []*dataplane.Endpoint // -batch, xdpmux
	if o.Kernel {
		for range o.Members {
			pc, err := reuseport.ListenPacket("udp", o.Listen.String())
			if err != nil {
				return nil, err
			}
			s.pcs = append(s.pcs, pc)
			// Tuned as an operator would: the largest receive buffer.
			if s.rcvbuf, err = reuseport.SetRcvBufMax(pc.(*net.UDPConn)); err != nil {
				return nil, fmt.Errorf("kernel socket: %w", err)
			}
		}
	} else {
		s.ifc, err = dataplane.OpenInterface(dataplane.InterfaceConfig{
			Ifname: o.Iface,
			Queues: o.Queues,
			Socket: socketOptions(),
		})
		if err != nil {
			return nil, err
		}
		for range o.Members {
			var eo dataplane.EndpointOptions
			if o.Handler {
				eo.Handler = handleFrames
			}
			ep, err := s.ifc.Bind(pcb.Spec{Proto: pcb.UDP, Local: o.Listen, ReusePort: o.Members > 1,
				Owner: pcb.Owner("dnsserver")}, eo)
			if err != nil {
				return nil, err
			}
			if o.Batch {
				eps = append(eps, ep)
			}
			s.pcs = append(s.pcs, ep.PacketConn())
		}
	}
	if o.Batch {
		s.startBatch(eps)
		return s, nil
	}
	if o.Handler {
		return s, nil // the workers answer
	}
	for _, pc := range s.pcs {
		started := make(chan struct{})
		srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(handler),
			NotifyStartedFunc: func() { close(started) }}
		s.srvs = append(s.srvs, srv)
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.failed <- fmt.Errorf("serve %v: %w", pc.LocalAddr(), err)
			}
		}()
		<-started
	}
	return s, nil
}

// startBatch starts one batch loop per member: on eps (xdpmux) or, when
// there are none, on the kernel sockets in s.pcs.
func (s *server) startBatch(eps []*dataplane.Endpoint) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	serve := make([]func() error, 0, len(s.pcs))
	for _, ep := range eps {
		serve = append(serve, func() error { return serveEndpoint(ctx, ep) })
	}
	if eps == nil {
		for _, pc := range s.pcs {
			serve = append(serve, func() error { return serveKernel(pc.(*net.UDPConn)) })
		}
	}
	for i, f := range serve {
		s.loops.Add(1)
		go func() {
			defer s.loops.Done()
			if err := f(); err != nil {
				s.failed <- fmt.Errorf("serve %v: %w", s.pcs[i].LocalAddr(), err)
			}
		}()
	}
}

// report prints the dataplane's counters (xdpmux variant).
func (s *server) report(w io.Writer) {
	if s.ifc == nil {
		return
	}
	t := s.ifc.Stats().Totals()
	var sent, dropped uint64
	for _, q := range s.ifc.TXStats() {
		sent += q.Sent
		dropped += q.Dropped
	}
	fmt.Fprintf(w, "dnsserver: rx %d delivered %d unmatched %d malformed %d ring-full %d; tx sent %d dropped %d\n",
		t.RX, t.Delivered, t.Unmatched, t.MalformedTotal(), t.RingFull, sent, dropped)
}

// close stops the servers and closes the PacketConns and the interface.
func (s *server) close() error {
	var errs []error
	for _, srv := range s.srvs {
		if err := srv.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	s.srvs = nil
	s.cancel()
	for _, pc := range s.pcs {
		pc.Close()
	}
	s.loops.Wait()
	s.pcs = nil
	if s.ifc != nil {
		if err := s.ifc.Close(); err != nil {
			errs = append(errs, err)
		}
		s.ifc = nil
	}
	return errors.Join(errs...)
}
