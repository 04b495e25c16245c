package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

const runUsage = `usage: xdpmux run -iface IF [-queues 0,1|all] [-policy threshold|modulo|maglev|quic]
                  [-metrics [HOST:]PORT] [-ctl PATH] [-sink]
                  [-allow uid=U,ports=LO[-HI][,proto=udp|tcp]]... [-nonlocal-bind]
                  [-dual-stack-groups] [-bounded-load FILL] [BIND...]
  BIND := PROTO/ADDR:PORT[/COUNT][@OPT[,OPT]]   OPT := slots[=FIRST] | dual
          e.g. udp/0.0.0.0:53/4  udp/0.0.0.0:53/4@slots  udp/[::]:53/4@dual

Attaches xdpmux's XDP program and one AF_XDP socket per queue to IF and
serves endpoints until SIGINT or SIGTERM. Each BIND on the command line
makes COUNT reuseport members (one plain endpoint without /COUNT), owned by
the running user, each a counting sink that reads every payload byte.
Other programs bind endpoints through the control socket (see package
dataplane/ctl); 'xdpmux stats' reads its counters. Needs root.

Every bind is checked as the kernel would check it (docs/SECURITY.md): ports
below the namespace's ip_unprivileged_port_start need root or
CAP_NET_BIND_SERVICE, a port a kernel socket holds is refused, and so is an
address that is not local unless -nonlocal-bind is given. With one or more
-allow rules, a user other than root may bind only what a rule for its uid
covers; without any, Linux's rules apply.
`

// runConfig is a parsed command line of `xdpmux run`.
type runConfig struct {
	iface   string
	queues  []int // nil: all
	policy  localgroup.Policy
	metrics string // listen address, "" for none
	ctlPath string
	sink    bool
	allow   []dataplane.AllowRule
	// nonlocal lets binds name addresses that are not local (as
	// net.ipv4.ip_nonlocal_bind).
	nonlocal bool
	binds    []bindArg
	// dualGroups is pcb.Config.DualStackGroups.
	dualGroups bool
	// boundedFill is dataplane.Config.BoundedLoad.Fill (0: off).
	boundedFill float64
}

// runReady tells tests where a running instance listens.
type runReady struct {
	MetricsAddr string // "" without -metrics
	CtlPath     string
	Info        dataplane.InterfaceInfo
}

// runInfo is the Info of the control socket's stats snapshot; `xdpmux
// stats` decodes it.
type runInfo struct {
	Interface dataplane.InterfaceInfo   `json:"interface"`
	XDP       []dataplane.QueueXDPStats `json:"xdp,omitempty"`
	XDPError  string                    `json:"xdp_error,omitempty"`
	Sinks     []sinkInfo                `json:"sinks,omitempty"`
}

type sinkInfo struct {
	Name    string `json:"name"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runMain(ctx, args, stdout, stderr, nil)
}

// runMain is cmdRun's core: it serves until ctx is done. ready, if not
// nil, is called once everything is up.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(runReady)) int {
	cfg, err := parseRunArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, runUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "xdpmux run: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := runServe(ctx, cfg, log, stdout, ready); err != nil {
		fmt.Fprintf(stderr, "xdpmux run: %v\n", err)
		return 1
	}
	return 0
}

func parseRunArgs(args []string) (runConfig, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	iface := fs.String("iface", "", "network interface")
	queues := fs.String("queues", "all", "receive queues to serve: all, or a list such as 0,1")
	policyName := fs.String("policy", "threshold", "member pick policy: threshold, modulo, maglev or quic")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on [HOST:]PORT (host default 127.0.0.1)")
	ctlPath := fs.String("ctl", ctl.DefaultPath, "control socket path (\"\" or \"none\": no control socket)")
	sink := fs.Bool("sink", false, "print each command-line sink's packet and byte counts when run ends")
	var allow []dataplane.AllowRule
	fs.Func("allow", "let a uid bind ports: uid=U,ports=LO[-HI][,proto=udp|tcp] (repeatable; with any rule, users bind only what a rule covers)", func(v string) error {
		r, err := dataplane.ParseAllowRule(v)
		if err != nil {
			return err
		}
		allow = append(allow, r)
		return nil
	})
	dualGroups := fs.Bool("dual-stack-groups", false, "group reuseport IPv6 dual-stack wildcards, as Linux does (SPEC section 3)")
	boundedFill := fs.Float64("bounded-load", 0, "ring fill in (0,1] above which a group member gets no new flows (0: off)")
	nonlocal := fs.Bool("nonlocal-bind", false, "allow binds to addresses that are not local (as net.ipv4.ip_nonlocal_bind)")
	binds, err := parseInterleaved(fs, args)
	if err != nil {
		return runConfig{}, err
	}
	cfg := runConfig{iface: *iface, metrics: *metrics, ctlPath: *ctlPath, sink: *sink, allow: allow, nonlocal: *nonlocal}
	if cfg.ctlPath == "none" {
		cfg.ctlPath = ""
	}
	if cfg.iface == "" {
		return runConfig{}, errors.New("missing -iface IF")
	}
	cfg.dualGroups, cfg.boundedFill = *dualGroups, *boundedFill
	if cfg.policy, err = localgroup.ParsePolicy(*policyName); err != nil {
		return runConfig{}, fmt.Errorf("-policy %q: %w", *policyName, err)
	}
	if cfg.queues, err = parseQueues(*queues); err != nil {
		return runConfig{}, err
	}
	if cfg.metrics != "" {
		if cfg.metrics, err = metricsAddr(cfg.metrics); err != nil {
			return runConfig{}, err
		}
	}
	for _, arg := range binds {
		b, err := parseBind(arg)
		if err != nil {
			return runConfig{}, err
		}
		cfg.binds = append(cfg.binds, b)
	}
	return cfg, nil
}

// parseQueues parses "all" (nil) or a comma-separated list of queues.
func parseQueues(s string) ([]int, error) {
	if s == "all" {
		return nil, nil
	}
	var qs []int
	for _, f := range strings.Split(s, ",") {
		q, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || q < 0 {
			return nil, fmt.Errorf("-queues %q: %q is not a queue number (want all, or a list such as 0,1)", s, f)
		}
		qs = append(qs, q)
	}
	return qs, nil
}

// metricsAddr completes [HOST:]PORT, the host defaulting to 127.0.0.1.
func metricsAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = "", s
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("-metrics %q: want [HOST:]PORT", s)
	}
	return net.JoinHostPort(host, port), nil
}

// runSink is a command-line BIND's endpoint: it reads every payload byte and
// counts.
type runSink struct {
	ep      *dataplane.Endpoint
	packets atomic.Uint64
	bytes   atomic.Uint64
	sum     atomic.Uint64 // of every payload byte, so the reads are not optimized away
}

func (s *runSink) run(ctx context.Context) {
	batch := make([]dataplane.Frame, rxq.BatchSize)
	for {
		n, err := s.ep.Receive(ctx, batch)
		if err != nil {
			return
		}
		var nb, sum uint64
		for i := range batch[:n] {
			p := batch[i].Payload
			nb += uint64(len(p))
			for _, c := range p {
				sum += uint64(c)
			}
		}
		s.ep.Release(batch[:n])
		s.packets.Add(uint64(n))
		s.bytes.Add(nb)
		s.sum.Add(sum)
	}
}

// runServe runs one instance until ctx is done.
func runServe(ctx context.Context, cfg runConfig, log *slog.Logger, stdout io.Writer, ready func(runReady)) (err error) {
	ifc, err := dataplane.OpenInterface(dataplane.InterfaceConfig{
		Ifname: cfg.iface,
		Queues: cfg.queues,
		Config: dataplane.Config{
			Table:         pcb.Config{Policy: cfg.policy, DualStackGroups: cfg.dualGroups},
			Access:        dataplane.AccessPolicy{Allow: cfg.allow},
			AllowNonlocal: cfg.nonlocal,
			BoundedLoad:   dataplane.BoundedLoad{Fill: cfg.boundedFill},
		},
	})
	if err != nil {
		return err
	}
	info := ifc.Info()
	log.Info("attached", "iface", info.Ifname, "ifindex", info.Ifindex, "queues", fmt.Sprint(info.Queues),
		"rx_queues", info.RxQueues, "xdp_mode", info.XDPMode, "xsk_mode", info.SocketMode, "policy", cfg.policy.String())

	// Teardown, in reverse order of setup, whatever happens below.
	var (
		sinks   []*runSink
		sinkWG  sync.WaitGroup
		srv     *ctl.Server
		serveWG sync.WaitGroup
		httpSrv *http.Server
	)
	sinkCtx, stopSinks := context.WithCancel(context.Background())
	defer func() {
		var errs []error
		if srv != nil {
			srv.Close() // disconnects clients, closes their endpoints, removes the socket file
			serveWG.Wait()
		}
		if httpSrv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			httpSrv.Shutdown(sctx)
			cancel()
		}
		for _, s := range sinks {
			s.ep.Close()
		}
		stopSinks()
		sinkWG.Wait()
		if cerr := ifc.Close(); cerr != nil { // detaches XDP, unclaims ports
			errs = append(errs, cerr)
		}
		if err == nil {
			err = errors.Join(errs...)
		}
		if cfg.sink {
			for _, s := range sinks {
				fmt.Fprintf(stdout, "sink %s packets %d bytes %d\n", s.ep.Name(), s.packets.Load(), s.bytes.Load())
			}
		}
		log.Info("detached", "iface", info.Ifname)
	}()

	owner := pcb.UIDOwner(uint32(os.Getuid()))
	next := map[string]int{}
	for _, b := range cfg.binds {
		for _, spec := range b.specs(owner, next) {
			ep, err := ifc.Bind(spec, dataplane.EndpointOptions{})
			if err != nil {
				return fmt.Errorf("BIND %s: %w", b, err)
			}
			s := &runSink{ep: ep}
			sinks = append(sinks, s)
			sinkWG.Go(func() { s.run(sinkCtx) })
			log.Info("sink bound", "endpoint", ep.Name(), "reuseport", spec.ReusePort)
		}
	}

	infoFunc := func() any {
		ri := runInfo{Interface: info}
		xs, err := ifc.XDPStats()
		if err != nil {
			ri.XDPError = err.Error()
		}
		ri.XDP = xs
		for _, s := range sinks {
			ri.Sinks = append(ri.Sinks, sinkInfo{Name: s.ep.Name(), Packets: s.packets.Load(), Bytes: s.bytes.Load()})
		}
		return ri
	}

	rd := runReady{CtlPath: cfg.ctlPath, Info: info}
	if cfg.metrics != "" {
		l, err := net.Listen("tcp", cfg.metrics)
		if err != nil {
			return fmt.Errorf("-metrics %s: %w", cfg.metrics, err)
		}
		httpSrv = newMetricsServer(ifc.Dataplane, info, ifc.XDPStats, log)
		rd.MetricsAddr = l.Addr().String()
		go httpSrv.Serve(l)
		log.Info("metrics", "addr", "http://"+rd.MetricsAddr+"/metrics")
	}
	if cfg.ctlPath != "" {
		l, err := ctl.ListenUnix(cfg.ctlPath)
		if err != nil {
			return err
		}
		srv = ctl.NewServer(ifc.Dataplane, infoFunc)
		srv.Logger = log
		serveWG.Go(func() {
			if err := srv.Serve(l); !errors.Is(err, ctl.ErrServerClosed) {
				log.Error("control socket", "err", err)
			}
		})
		log.Info("control socket", "path", cfg.ctlPath)
	}
	if ready != nil {
		ready(rd)
	}
	<-ctx.Done()
	log.Info("shutting down", "cause", context.Cause(ctx))
	return nil
}
