package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/rxq"
)

const runUsage = `usage: xdpmux run -iface IF [-queues 0,1|all] [-policy threshold|modulo|maglev|quic]
                  [-metrics [HOST:]PORT] [-ctl PATH] [-sink] [-frames N]
                  [-allow uid=U,ports=LO[-HI][,proto=udp|tcp]]... [-nonlocal-bind]
                  [-dual-stack-groups] [-bounded-load FILL] [-hash toeplitz|nic]
                  [-config FILE] [-takeover] [-cpuprofile FILE] [BIND...]
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

-hash nic takes the packet hash from the NIC where the driver gives one
(bpf_xdp_metadata_rx_hash; native XDP only), frame by frame, and the
software Toeplitz hash for the other frames; 'xdpmux stats' says which
(docs/HASH.md). The default, toeplitz, hashes every frame in software.

-config FILE reads flags from FILE, one "NAME VALUE" per line ("bind
BIND" for a BIND, "#" comments; docs/OPERATIONS.md); flags on the command
line override it, and -allow rules and BINDs add to it.

-takeover takes over from the instance serving the same -ctl socket
without losing a frame: it adopts its XDP program, sockets and rings, and
its clients' endpoints (they reconnect, with ctl.Options.Reconnect), and the
old instance exits. If this instance fails before it serves, the old one
goes on serving. kill -USR2 PID makes a running instance start its own
binary with -takeover: a reload, or an upgrade once the binary is replaced.

-cpuprofile FILE writes a CPU profile (pprof) of the whole run to FILE when
run ends; scripts/pgo.sh makes the builds' default.pgo from it.
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
	// frames is the UMEM frames per queue (0: the default).
	frames int
	// takeover: take over from the instance serving ctlPath.
	takeover bool
	// args are the arguments as given (with -config's expanded), for the
	// instance kill -USR2 starts.
	args []string
	// dualGroups is pcb.Config.DualStackGroups.
	dualGroups bool
	// boundedFill is dataplane.Config.BoundedLoad.Fill (0: off).
	boundedFill float64
	// hash is dataplane.Config.Hash.
	hash string
	// cpuProfile is the file for a CPU profile of the run ("": none).
	cpuProfile string
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
	PID       int                       `json:"pid"` // changes with a takeover
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
	var prof *cpuProfile
	if cfg.cpuProfile != "" {
		if prof, err = startCPUProfile(cfg.cpuProfile); err != nil {
			fmt.Fprintf(stderr, "xdpmux run: %v\n", err)
			return 1
		}
	}
	err = runServe(ctx, cfg, log, stdout, ready)
	if prof != nil {
		err = errors.Join(err, prof.stop())
	}
	if err != nil {
		fmt.Fprintf(stderr, "xdpmux run: %v\n", err)
		return 1
	}
	return 0
}

func parseRunArgs(given []string) (runConfig, error) {
	args, err := expandConfig(given)
	if err != nil {
		return runConfig{}, err
	}
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
	frames := fs.Int("frames", 0, "UMEM frames per queue, a power of two (default 4096); the fill ring holds them all, the rx ring half")
	hashMode := fs.String("hash", dataplane.HashToeplitz, "packet hash: toeplitz (software) or nic (the NIC's where it has one)")
	takeover := fs.Bool("takeover", false, "take over from the instance serving the same -ctl socket")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the run to FILE when it ends")
	fs.String("config", "", "read flags from FILE (see docs/OPERATIONS.md)")
	binds, err := parseInterleaved(fs, args)
	if err != nil {
		return runConfig{}, err
	}
	cfg := runConfig{iface: *iface, metrics: *metrics, ctlPath: *ctlPath, sink: *sink, allow: allow, nonlocal: *nonlocal,
		frames: *frames, takeover: *takeover, args: given, cpuProfile: *cpuProfile}
	if cfg.frames != 0 && (cfg.frames < 512 || cfg.frames&(cfg.frames-1) != 0) {
		return runConfig{}, fmt.Errorf("-frames %d: want a power of two, at least 512", cfg.frames)
	}
	if cfg.ctlPath == "none" {
		cfg.ctlPath = ""
	}
	if cfg.iface == "" {
		return runConfig{}, errors.New("missing -iface IF")
	}
	if cfg.takeover && cfg.ctlPath == "" {
		return runConfig{}, errors.New("-takeover needs the control socket (-ctl PATH)")
	}
	cfg.dualGroups, cfg.boundedFill = *dualGroups, *boundedFill
	if cfg.hash = *hashMode; cfg.hash != dataplane.HashToeplitz && cfg.hash != dataplane.HashNIC {
		return runConfig{}, fmt.Errorf("-hash %q: want toeplitz or nic", cfg.hash)
	}
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
