// Command httpserver serves HTTP (net/http, unmodified) from N gVisor
// user-space TCP/IP stacks, one per member of an xdpmux SO_REUSEPORT TCP
// group bound to -addr on -iface: the seed's picture of one socket per
// thread, where the packet hash picks the member. A SYN and every later
// segment of its flow hash alike, so a connection lives entirely in one
// stack. Each stack reaches net/http through gonet (a net.Listener over
// the stack). With -kernel the same handler runs on N kernel SO_REUSEPORT
// TCP listeners instead, for comparison.
//
//	httpserver -iface eth1 -addr 198.18.0.1:80 -members 4
//	httpserver -kernel -addr 198.18.0.1:80 -members 4
//	httpserver -gvisor-link fdbased|xdp -iface eth1 -addr 198.18.0.3:80
//
// With -gvisor-link the handler runs on one gVisor stack on gVisor's own
// link endpoint over -iface instead (fdbased: an AF_PACKET socket; xdp:
// gVisor's AF_XDP endpoint on queue 0), the baseline a user of gVisor
// would compare xdpmux with (docs/NETSTACK.md).
//
// Paths: / (a short page naming the member), /bytes?n=N (N bytes of a
// fixed pattern), /bulk?n=N (N zero bytes, for throughput), /stats (JSON:
// connections and requests per member, Jain's fairness index over
// connections, and the links' and dataplane's counters). Every response
// carries X-Member.
//
// Member churn: SIGUSR1 stops the highest-numbered running member (its
// HTTP server, link, stack and endpoint) while the others keep serving; its
// connections break, and with the threshold pick some of the survivors'
// too (docs/NETSTACK.md, "Member churn"). -policy picks the group's pick
// policy (maglev moves the fewest flows), -drain binds the members with the
// dataplane's Drain option (frames queued on a stopped member are
// re-steered to the others instead of dropped).
//
// Run it in the network namespace of the interface (ip netns exec). The
// stacks own -addr: frames to it on -addr's port are taken by the XDP
// program, so the kernel's own sockets never see them, while ARP and
// everything else stay with the kernel. It serves until SIGINT or SIGTERM.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/xdpmux/xdpmux/bench/fairness"
	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/netstackep"
	"github.com/xdpmux/xdpmux/examples/internal/reuseport"
	"github.com/xdpmux/xdpmux/examples/internal/serving"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// TX paths (-tx).
const (
	txAuto   = "auto"   // xdp when the endpoint can send frames, else packet
	txXDP    = "xdp"    // the endpoint's SendIP: the queue's AF_XDP TX ring
	txPacket = "packet" // an AF_PACKET socket on the interface
)

// gVisor's own link endpoints (-gvisor-link).
const (
	gvisorFdbased = "fdbased" // gvisor.dev/gvisor/pkg/tcpip/link/fdbased on AF_PACKET
	gvisorXDP     = "xdp"     // gvisor.dev/gvisor/pkg/tcpip/link/xdp on queue 0
)

// options configure a server.
type options struct {
	Iface   string
	Queues  []int // nil: every queue
	Members int
	Addr    netip.AddrPort
	Kernel  bool
	// GVisorLink, if set (fdbased or xdp), serves from one gVisor stack
	// on gVisor's own link endpoint over Iface instead of xdpmux;
	// Members, Queues, TX, Policy and Drain are then ignored.
	GVisorLink string
	TX         string
	// RXChecksum: "verify" (the stacks verify received checksums),
	// "trust" (they do not: veth delivers partial checksums) or "auto"
	// (trust on veth, verify elsewhere; the default).
	RXChecksum string
	// Policy is the group's pick policy: threshold (default), modulo or
	// maglev.
	Policy string
	// Drain binds the members with EndpointOptions.Drain: frames queued on
	// a member when it stops are re-steered to the remaining members.
	Drain bool
	// GSOMaxSize is the Links' netstackep.Options.GSOMaxSize: 0 the
	// default (segmentation offload, the Link cuts the segments), -1 none.
	GSOMaxSize int
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("httpserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	iface := fs.String("iface", "", "interface to serve (xdpmux variant)")
	queues := fs.String("queues", "", "comma-separated receive queues (default: all)")
	members := fs.Int("members", 2, "number of reuseport members (stacks) or kernel listeners")
	addr := fs.String("addr", "198.18.0.1:80", "address and port to serve; the stacks own the address")
	kernel := fs.Bool("kernel", false, "use kernel SO_REUSEPORT TCP listeners instead of xdpmux")
	gvlink := fs.String("gvisor-link", "", "serve from one gVisor stack on gVisor's own link endpoint instead: fdbased or xdp")
	tx := fs.String("tx", txAuto, "transmit path of the stacks: auto, xdp or packet")
	rxcsum := fs.String("rx-checksum", "auto", "received checksums: verify, trust (veth: they arrive partial) or auto")
	policy := fs.String("policy", "threshold", "pick policy of the group: threshold, modulo or maglev")
	drain := fs.Bool("drain", false, "re-steer frames queued on a stopped member to the others (instead of dropping them)")
	gso := fs.Int("gso-max", 0, "GSO packet size the stacks send (the link cuts MSS segments): 0 default, -1 off")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o := options{Iface: *iface, Members: *members, Kernel: *kernel, GVisorLink: *gvlink, TX: *tx, RXChecksum: *rxcsum,
		Policy: *policy, Drain: *drain, GSOMaxSize: *gso}
	var err error
	if o.Addr, err = netip.ParseAddrPort(*addr); err != nil {
		fmt.Fprintf(stderr, "httpserver: -addr %q: %v\n", *addr, err)
		return 2
	}
	if o.Queues, err = serving.ParseQueues(*queues); err != nil {
		fmt.Fprintf(stderr, "httpserver: -queues %q: %v\n", *queues, err)
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "httpserver: %v\n", err)
		return 2
	}
	s, err := start(o)
	if err != nil {
		fmt.Fprintf(stderr, "httpserver: %v\n", err)
		return 1
	}
	ready := func() {
		fmt.Fprintf(stdout, "httpserver: serving http://%s, %d members (%s)\n", o.Addr, o.Members, s.variant)
	}
	stopLast := func() { // SIGUSR1: member churn
		i := s.lastRunning()
		if i < 0 {
			fmt.Fprintln(stderr, "httpserver: SIGUSR1: no member left to stop")
			return
		}
		if serr := s.stopMember(i, o.Drain); serr != nil {
			fmt.Fprintf(stderr, "httpserver: SIGUSR1: %v\n", serr)
			return
		}
		fmt.Fprintf(stdout, "httpserver: SIGUSR1: member %d stopped\n", i)
	}
	if err = serving.Wait(ready, s.failed, map[os.Signal]func(){syscall.SIGUSR1: stopLast}); err != nil {
		fmt.Fprintf(stderr, "httpserver: %v\n", err)
	}
	b, _ := json.Marshal(s.stats())
	fmt.Fprintf(stdout, "httpserver: %s\n", b)
	if cerr := s.close(); cerr != nil {
		fmt.Fprintf(stderr, "httpserver: %v\n", cerr)
		return 1
	}
	if err != nil {
		return 1
	}
	return 0
}

func (o *options) validate() error {
	switch {
	case o.Members < 1:
		return fmt.Errorf("-members %d: must be at least 1", o.Members)
	case o.Addr.Port() == 0:
		return fmt.Errorf("-addr %v: port 0", o.Addr)
	case o.Kernel && o.GVisorLink != "":
		return errors.New("-kernel and -gvisor-link exclude each other")
	case o.Kernel:
		return nil
	case o.Iface == "":
		return errors.New("-iface is required (or -kernel)")
	case o.Addr.Addr().IsUnspecified():
		return fmt.Errorf("-addr %v: the stacks need the address they own, not the wildcard", o.Addr)
	}
	switch o.GVisorLink {
	case "":
	case gvisorFdbased, gvisorXDP:
		if !gvisorLinks {
			return fmt.Errorf("-gvisor-link %s: %w: gVisor's link endpoints are Linux-only", o.GVisorLink, dataplane.ErrNotSupported)
		}
	default:
		return fmt.Errorf("-gvisor-link %q: want fdbased or xdp", o.GVisorLink)
	}
	switch o.TX {
	case "":
		o.TX = txAuto
	case txAuto, txXDP, txPacket:
	default:
		return fmt.Errorf("-tx %q: want auto, xdp or packet", o.TX)
	}
	if o.Policy == "" {
		o.Policy = localgroup.Threshold.String()
	}
	if _, err := localgroup.ParsePolicy(o.Policy); err != nil {
		return fmt.Errorf("-policy: %w", err)
	}
	switch o.RXChecksum {
	case "":
		o.RXChecksum = "auto"
	case "auto", "verify", "trust":
	default:
		return fmt.Errorf("-rx-checksum %q: want auto, verify or trust", o.RXChecksum)
	}
	if o.TX == txXDP && !endpointSends {
		return fmt.Errorf("-tx xdp: %w: this dataplane's endpoints cannot send IP packets (no SendIP)",
			dataplane.ErrNotSupported)
	}
	return nil
}

// endpointSends: dataplane endpoints send IP packets on their queue's
// AF_XDP TX ring.
var endpointSends = func() bool {
	_, ok := any((*dataplane.Endpoint)(nil)).(netstackep.Sender)
	return ok
}()

// member is one reuseport member: a stack (xdpmux) or a kernel listener.
type member struct {
	id       int
	ep       *dataplane.Endpoint // xdpmux only
	link     *netstackep.Link    // xdpmux only
	gv       *gvisorLink         // -gvisor-link only
	stack    *stack.Stack        // xdpmux and -gvisor-link
	ln       net.Listener
	srv      *http.Server
	conns    atomic.Uint64
	requests atomic.Uint64
	drain    bool // bound with EndpointOptions.Drain

	stopOnce sync.Once
	stopped  atomic.Bool
	stopErr  error
}

// stop stops the member, once: its HTTP server (closing its connections),
// its link, its stack (in that order: docs/NETSTACK.md, "Teardown order")
// and its endpoint. Later calls return the first call's error.
func (m *member) stop() error {
	m.stopOnce.Do(func() {
		m.stopped.Store(true)
		var errs []error
		if m.srv != nil {
			if err := m.srv.Close(); err != nil {
				errs = append(errs, err)
			}
		} else if m.ln != nil {
			m.ln.Close()
		}
		if m.link != nil {
			m.link.Stop() // before Destroy, which would wait for it holding the stack's lock
		}
		if m.stack != nil {
			m.stack.Destroy()
		}
		if m.gv != nil {
			if err := m.gv.close(); err != nil {
				errs = append(errs, err)
			}
		}
		if m.ep != nil {
			if err := m.ep.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			m.stopErr = fmt.Errorf("stop member %d: %w", m.id, err)
		}
	})
	return m.stopErr
}

// server is a running set of members.
type server struct {
	variant string
	ifc     *dataplane.Interface     // nil for -kernel
	psend   *netstackep.PacketSender // -tx packet
	members []*member                // set by start, then only read (nil after stopMembers)
	failed  chan error
}

// errBadMember is returned (wrapped) by stopMember for a member that does
// not exist or whose drain setting cannot be honoured.
var errBadMember = errors.New("bad member")

// stopMember stops member i at run time while the others keep serving: its
// HTTP server, its link and stack, then its endpoint, whose Close takes it
// out of the group in every worker's table (the later members shift down,
// SPEC section 3). drain says what should happen to the frames still queued
// on it: dropped (false) or re-steered to the remaining members (true). The
// dataplane fixes that choice at Bind (EndpointOptions.Drain, here
// options.Drain), so drain must match it. Stopping a stopped member returns
// the first stop's error. In the -kernel variant it closes the listener's
// server: the kernel moves nothing, its connections are closed.
func (s *server) stopMember(i int, drain bool) error {
	if i < 0 || i >= len(s.members) {
		return fmt.Errorf("stop member %d: %w: have %d members", i, errBadMember, len(s.members))
	}
	m := s.members[i]
	if m.ep != nil && drain != m.drain {
		return fmt.Errorf("stop member %d with drain %v: %w: it was bound with drain %v (set at bind: -drain)",
			i, drain, errBadMember, m.drain)
	}
	return m.stop()
}

// lastRunning returns the highest-numbered member not stopped, or -1.
func (s *server) lastRunning() int {
	for i := len(s.members) - 1; i >= 0; i-- {
		if !s.members[i].stopped.Load() {
			return i
		}
	}
	return -1
}

// socketOptions are the AF_XDP socket options: the defaults, plus a TX ring
// when the stacks send through their endpoints.
func socketOptions(tx string) rxq.SocketOptions {
	so := rxq.DefaultSocketOptions()
	if tx == txXDP {
		so.TXRingSize = 2048
		so.CompletionRingSize = 2048
	}
	return so
}

// start opens the listeners (in the calling OS thread's network namespace)
// and serves HTTP on each; it returns once all serve.
func start(o options) (_ *server, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &server{failed: make(chan error, o.Members)}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.close())
		}
	}()
	n := o.Members
	if o.GVisorLink != "" {
		n = 1 // one stack on the one link endpoint
	}
	for i := range n {
		s.members = append(s.members, &member{id: i})
	}
	if o.GVisorLink != "" {
		if err := s.startGVisor(o); err != nil {
			return nil, err
		}
	} else if o.Kernel {
		s.variant = "kernel SO_REUSEPORT"
		for _, m := range s.members {
			if m.ln, err = reuseport.Listen("tcp", o.Addr.String()); err != nil {
				return nil, err
			}
		}
	} else if err := s.startXDP(o); err != nil {
		return nil, err
	}
	for _, m := range s.members {
		m.srv = &http.Server{Handler: s.handler(m), ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				m.conns.Add(1)
			}
		}}
		go func() {
			if err := m.srv.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.failed <- fmt.Errorf("member %d: %w", m.id, err)
			}
		}()
	}
	return s, nil
}

// startXDP opens the interface, binds the group and builds a stack on each
// member.
func (s *server) startXDP(o options) error {
	tx := o.TX
	if tx == txAuto {
		tx = txPacket
		if endpointSends {
			tx = txXDP
		}
	}
	ni, err := net.InterfaceByName(o.Iface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", o.Iface, err)
	}
	trust := o.RXChecksum == "trust"
	if o.RXChecksum == "auto" {
		trust = isVeth(o.Iface)
	}
	rxc := "verify"
	if trust {
		rxc = "trust"
	}
	s.variant = fmt.Sprintf("xdpmux on %s, gVisor stacks, tx %s, rx checksums %s", o.Iface, tx, rxc)
	policy, err := localgroup.ParsePolicy(o.Policy)
	if err != nil {
		return err
	}
	s.variant += ", policy " + policy.String()
	if o.Drain {
		s.variant += ", drain"
	}
	cfg := dataplane.InterfaceConfig{
		Ifname: o.Iface,
		Queues: o.Queues,
		Socket: socketOptions(tx),
	}
	cfg.Config.Table.Policy = policy
	s.ifc, err = dataplane.OpenInterface(cfg)
	if err != nil {
		return err
	}
	if tx == txPacket {
		if s.psend, err = netstackep.OpenPacketSender(s.ifc.Info().Ifindex); err != nil {
			return err
		}
	}
	a := o.Addr.Addr().Unmap()
	proto := header.IPv4ProtocolNumber
	if a.Is6() {
		proto = header.IPv6ProtocolNumber
	}
	for _, m := range s.members {
		m.ep, err = s.ifc.Bind(pcb.Spec{Proto: pcb.TCP, Local: netip.AddrPortFrom(a, o.Addr.Port()),
			ReusePort: o.Members > 1, Owner: pcb.Owner("httpserver"), Name: fmt.Sprintf("member%d", m.id)},
			dataplane.EndpointOptions{Drain: o.Drain})
		if err != nil {
			return err
		}
		m.drain = o.Drain
		lo := netstackep.Options{LinkAddress: ni.HardwareAddr, MTU: uint32(ni.MTU), TrustRXChecksums: trust,
			GSOMaxSize: o.GSOMaxSize}
		if s.psend != nil {
			lo.Sender = s.psend.For(m.ep) // framed with the link headers m.ep learned
		}
		if m.link, err = netstackep.New(m.ep, lo); err != nil {
			return fmt.Errorf("member %d: %w", m.id, err)
		}
		if m.stack, err = netstackep.NewStack(m.link, netip.PrefixFrom(a, a.BitLen())); err != nil {
			return fmt.Errorf("member %d: %w", m.id, err)
		}
		if err := m.listen(a, o.Addr.Port(), proto); err != nil {
			return err
		}
	}
	return nil
}

// listen opens the member's listener on its stack (gonet).
func (m *member) listen(a netip.Addr, port uint16, proto tcpip.NetworkProtocolNumber) (err error) {
	m.ln, err = gonet.ListenTCP(m.stack, tcpip.FullAddress{NIC: netstackep.NICID,
		Addr: tcpip.AddrFromSlice(a.AsSlice()), Port: port}, proto)
	if err != nil {
		return fmt.Errorf("member %d: %w", m.id, err)
	}
	return nil
}

// bulkChunk is what /bulk repeats: zeros, written from one shared
// buffer, so that a throughput measurement measures the stacks, not the
// filling of /bytes' pattern.
var bulkChunk = make([]byte, 256<<10)

// pattern is the byte at offset i of /bytes.
func pattern(i int) byte { return byte(i*131 + i>>10) }

// byteCount is the n=N query of /bytes and /bulk; it answers 400 itself
// when N is not a byte count up to 1 GiB.
func byteCount(w http.ResponseWriter, r *http.Request) (int, bool) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 0 || n > 1<<30 {
		http.Error(w, "n: want a byte count up to 1 GiB", http.StatusBadRequest)
		return 0, false
	}
	return n, true
}

// handler serves one member's paths.
func (s *server) handler(m *member) http.Handler {
	mux := http.NewServeMux()
	id := strconv.Itoa(m.id)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		w.Header().Set("X-Member", id)
		fmt.Fprintf(w, "hello from member %s (%s)\n", id, s.variant)
	})
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		w.Header().Set("X-Member", id)
		n, ok := byteCount(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		buf := make([]byte, 64<<10)
		for off := 0; off < n; off += len(buf) {
			k := min(len(buf), n-off)
			for i := range k {
				buf[i] = pattern(off + i)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/bulk", func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		w.Header().Set("X-Member", id)
		n, ok := byteCount(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		for off := 0; off < n; off += len(bulkChunk) {
			if _, err := w.Write(bulkChunk[:min(len(bulkChunk), n-off)]); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		w.Header().Set("X-Member", id)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.stats())
	})
	return mux
}

// Stats is the /stats document.
type Stats struct {
	Variant string        `json:"variant"`
	Members []MemberStats `json:"members"`
	// Jain is Jain's fairness index over the members' connection counts:
	// 1 is a perfectly even spread, 1/n everything on one member.
	Jain      float64               `json:"jain"`
	Dataplane *dataplane.QueueStats `json:"dataplane,omitempty"`
	// TX are the dataplane queues' transmit counters (-tx xdp).
	TX []dataplane.TXStats `json:"tx,omitempty"`
}

// MemberStats are one member's counters.
type MemberStats struct {
	Member   int               `json:"member"`
	Conns    uint64            `json:"conns"`
	Requests uint64            `json:"requests"`
	Stopped  bool              `json:"stopped,omitempty"`
	Link     *netstackep.Stats `json:"link,omitempty"`
}

func (s *server) stats() Stats {
	st := Stats{Variant: s.variant}
	xs := make([]float64, len(s.members))
	for i, m := range s.members {
		ms := MemberStats{Member: m.id, Conns: m.conns.Load(), Requests: m.requests.Load(),
			Stopped: m.stopped.Load()}
		if m.link != nil {
			ls := m.link.Stats()
			ms.Link = &ls
		}
		st.Members = append(st.Members, ms)
		xs[i] = float64(ms.Conns)
	}
	st.Jain = fairness.Jain(xs)
	if s.ifc != nil {
		t := s.ifc.Stats().Totals()
		st.Dataplane = &t
		st.TX = s.ifc.TXStats()
	}
	return st
}

// close stops the members and closes the interface.
func (s *server) close() error {
	errs := []error{s.stopMembers()}
	if s.ifc != nil {
		if err := s.ifc.Close(); err != nil {
			errs = append(errs, err)
		}
		s.ifc = nil
	}
	if s.psend != nil {
		if err := s.psend.Close(); err != nil {
			errs = append(errs, err)
		}
		s.psend = nil
	}
	return errors.Join(errs...)
}

// stopMembers stops every member not stopped yet (member.stop): afterwards
// the dataplane holds no frame for them.
func (s *server) stopMembers() error {
	var errs []error
	for _, m := range s.members {
		if err := m.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	// s.members stays: /stats may be reading it, and stop runs once per
	// member anyway.
	return errors.Join(errs...)
}
