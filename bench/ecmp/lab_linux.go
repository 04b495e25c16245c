//go:build linux

package ecmp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
)

// Resilient group settings: nexthop ids 1..Hosts are the hosts, the group
// is ResilientGroupID with ResilientBuckets buckets, in routing table
// ResilientTable, chosen by an ip rule of priority ResilientRulePref. A
// leaving host's buckets move at once to the hosts below their share; a
// bucket of a host above its share (after a host joins) moves only once it
// has been idle for ResilientIdle seconds, so a joining host takes over only
// flows that have ended; unbalanced_timer stays 0 (never force).
const (
	ResilientGroupID  = 100
	ResilientBuckets  = 512
	ResilientIdle     = 10
	ResilientTable    = 200
	ResilientRulePref = 100
)

// ErrBadConfig is returned (wrapped) for an invalid Config.
var ErrBadConfig = errors.New("ecmp: bad config")

// Config describes a lab.
type Config struct {
	Hosts   int    // host namespaces behind the router, 2 to 8
	Members int    // reuseport members of each host's group (the /COUNT of its BIND)
	Queues  int    // rx and tx queues of each router-host veth; default 2
	Xdpmux  string // path of the xdpmux binary each host runs
	Dir     string // where configs, control sockets and logs go (e.g. t.TempDir())
	Prefix  string // namespace name prefix, 1-8 letters or digits; default DefaultPrefix
}

// Lab is a running topology: a client, a router and Config.Hosts hosts,
// each in its own network namespace, with BIRD on the router and every host
// and `xdpmux run` on every host. Not safe for concurrent use, except that
// Flows may send while other methods run.
type Lab struct {
	cfg      Config
	ClientNS string
	RouterNS string
	Hosts    []*Host

	routerBird *daemon
	resilient  bool
}

// Host is one host of the lab.
type Host struct {
	Index    int    // 0-based
	NS       string // network namespace
	RouterIf string // the router's interface towards it
	Addr     netip.Addr
	Peer     netip.Addr // the router's address on the link
	BirdSock string     // BIRD control socket: birdc -s BirdSock ...
	CtlPath  string     // xdpmux control socket: xdpmux stats -ctl CtlPath

	bird   *daemon
	xdpmux *daemon
}

// New builds the lab, starts every daemon and waits until the router's
// multipath route covers every host. On error everything is torn down.
func New(cfg Config) (*Lab, error) {
	if cfg.Queues == 0 {
		cfg.Queues = 2
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	switch {
	case cfg.Hosts < 2 || cfg.Hosts > 8:
		return nil, fmt.Errorf("%w: hosts %d not in [2, 8]", ErrBadConfig, cfg.Hosts)
	case cfg.Members < 1 || cfg.Members > 64:
		return nil, fmt.Errorf("%w: members %d not in [1, 64]", ErrBadConfig, cfg.Members)
	case cfg.Queues < 1 || cfg.Queues > 16:
		return nil, fmt.Errorf("%w: queues %d not in [1, 16]", ErrBadConfig, cfg.Queues)
	case cfg.Xdpmux == "" || cfg.Dir == "":
		return nil, fmt.Errorf("%w: Xdpmux and Dir are required", ErrBadConfig)
	case !validPrefix(cfg.Prefix):
		return nil, fmt.Errorf("%w: prefix %q: want 1-8 letters or digits", ErrBadConfig, cfg.Prefix)
	}
	var rb [3]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return nil, fmt.Errorf("ecmp: random name: %w", err)
	}
	base := fmt.Sprintf("%s-%d-%s", cfg.Prefix, os.Getpid(), hex.EncodeToString(rb[:]))
	l := &Lab{cfg: cfg, ClientNS: base + "-c", RouterNS: base + "-r"}
	for i := range cfg.Hosts {
		l.Hosts = append(l.Hosts, &Host{
			Index:    i,
			NS:       fmt.Sprintf("%s-h%d", base, i+1),
			RouterIf: fmt.Sprintf("h%d", i+1),
			Addr:     netip.AddrFrom4([4]byte{198, 18, byte(i + 1), 2}),
			Peer:     netip.AddrFrom4([4]byte{198, 18, byte(i + 1), 1}),
			BirdSock: filepath.Join(cfg.Dir, fmt.Sprintf("h%d.bird.ctl", i+1)),
			CtlPath:  filepath.Join(cfg.Dir, fmt.Sprintf("h%d.xdpmux.ctl", i+1)),
		})
	}
	if err := l.build(); err != nil {
		return nil, errors.Join(fmt.Errorf("ecmp: %w", err), l.Close())
	}
	return l, nil
}

func validPrefix(p string) bool {
	if p == "" || len(p) > 8 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Namespaces lists the lab's namespaces.
func (l *Lab) Namespaces() []string {
	ns := []string{l.ClientNS, l.RouterNS}
	for _, h := range l.Hosts {
		ns = append(ns, h.NS)
	}
	return ns
}

func (l *Lab) build() error {
	q := strconv.Itoa(l.cfg.Queues)
	for _, ns := range l.Namespaces() {
		if err := netlab.NewNamespace(ns); err != nil { // not `ip netns add`: see NewNamespace
			return err
		}
		// A quiet lab: no IPv6 autoconfiguration or neighbour discovery.
		if err := run("ip", "netns", "exec", ns, "sysctl", "-qw",
			"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
			return err
		}
		if err := ip("-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	c, r := l.ClientNS, l.RouterNS
	steps := [][]string{
		// One queue on the client's link. A multi-queue sender hashes the
		// flow to pick its tx queue; the skb carries that hash and queue
		// through the veth, and the router reuses both: the hash for ECMP
		// (fib_multipath_hash takes an L4 hash already there) and the queue
		// as the tx queue towards the host, which put every flow on the
		// host's queue 0. With one queue the router hashes each packet
		// itself, and each host's flows spread over its queues as with RSS.
		{"-n", c, "link", "add", "up0", "type", "veth", "peer", "name", "cl0", "netns", r},
		{"-n", c, "addr", "add", ClientAddr.String() + "/24", "dev", "up0"},
		{"-n", c, "link", "set", "up0", "up"},
		{"-n", c, "route", "add", "default", "via", RouterAddr.String()},
		{"-n", r, "addr", "add", RouterAddr.String() + "/24", "dev", "cl0"},
		{"-n", r, "link", "set", "cl0", "up"},
	}
	for _, h := range l.Hosts {
		steps = append(steps,
			[]string{"-n", r, "link", "add", h.RouterIf, "numtxqueues", q, "numrxqueues", q, "type", "veth",
				"peer", "name", "up0", "netns", h.NS, "numtxqueues", q, "numrxqueues", q},
			[]string{"-n", r, "addr", "add", h.Peer.String() + "/24", "dev", h.RouterIf},
			[]string{"-n", r, "link", "set", h.RouterIf, "up"},
			[]string{"-n", h.NS, "addr", "add", h.Addr.String() + "/24", "dev", "up0"},
			[]string{"-n", h.NS, "link", "set", "up0", "up"},
			// The service address is local on every host, as in anycast.
			[]string{"-n", h.NS, "addr", "add", Service.String() + "/32", "dev", "lo"},
		)
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	if err := run("ip", "netns", "exec", r, "sysctl", "-qw",
		"net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1"); err != nil {
		return err
	}

	var nbrs []Neighbor
	for _, h := range l.Hosts {
		nbrs = append(nbrs, Neighbor{Name: h.RouterIf, Local: h.Peer, Peer: h.Addr})
	}
	var err error
	l.routerBird, err = l.startBird(r, "router", RouterBIRDConfig(RouterAddr, ServiceRange, nbrs))
	if err != nil {
		return err
	}
	for _, h := range l.Hosts {
		if err := l.StartHost(h.Index); err != nil {
			return err
		}
		name := fmt.Sprintf("h%d", h.Index+1)
		h.bird, err = l.startBird(h.NS, name, HostBIRDConfig(h.Addr, h.Peer, netip.PrefixFrom(Service, 32)))
		if err != nil {
			return err
		}
	}
	return l.WaitPaths(l.AllHosts(), 60*time.Second)
}

// AllHosts lists every host index.
func (l *Lab) AllHosts() []int {
	all := make([]int, len(l.Hosts))
	for i := range all {
		all[i] = i
	}
	return all
}

// Close stops every daemon and deletes every namespace; it reports the
// first errors.
func (l *Lab) Close() error {
	var errs []error
	for _, h := range l.Hosts {
		errs = append(errs, h.xdpmux.stop(), h.bird.stop())
		h.xdpmux, h.bird = nil, nil
	}
	errs = append(errs, l.routerBird.stop())
	l.routerBird = nil
	for _, ns := range l.Namespaces() {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			errs = append(errs, netlab.DeleteNamespace(ns))
		}
	}
	return errors.Join(errs...)
}

// Cleanup deletes the namespaces named PREFIX-PID-... whose process is
// gone: what a crashed run left behind (netlab.Cleanup, with this lab's
// default prefix).
func Cleanup(prefix string) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	netlab.Cleanup(prefix)
}

// StartHost starts `xdpmux run` on host i with a reuseport group of
// Config.Members sinks on the service address and waits until its control
// socket answers.
func (l *Lab) StartHost(i int) error {
	h := l.Hosts[i]
	if h.xdpmux != nil {
		return fmt.Errorf("host %d: xdpmux already running", i)
	}
	bind := fmt.Sprintf("udp/%s:%d/%d", Service, ServicePort, l.cfg.Members)
	d, err := startDaemon(filepath.Join(l.cfg.Dir, fmt.Sprintf("h%d.xdpmux.log", i+1)),
		"ip", "netns", "exec", h.NS, l.cfg.Xdpmux, "run", "-iface", "up0", "-ctl", h.CtlPath, bind)
	if err != nil {
		return fmt.Errorf("host %d: xdpmux: %w", i, err)
	}
	h.xdpmux = d
	err = d.waitReady(30*time.Second, func() error {
		_, err := ctl.Stats(h.CtlPath)
		return err
	})
	if err != nil {
		return fmt.Errorf("host %d: xdpmux: %w", i, err)
	}
	return nil
}

// StopHost stops host i's xdpmux (SIGTERM), which closes its group and
// detaches its XDP program.
func (l *Lab) StopHost(i int) error {
	h := l.Hosts[i]
	err := h.xdpmux.stop()
	h.xdpmux = nil
	if err != nil {
		return fmt.Errorf("host %d: stop xdpmux: %w", i, err)
	}
	return nil
}

// Running reports whether host i's xdpmux runs.
func (l *Lab) Running(i int) bool { return l.Hosts[i].xdpmux != nil }

// Drain withdraws host i's announcement of the service: the documented
// command `birdc -s SOCK disable service`. The router's BIRD then removes
// the host from the multipath route; WaitPaths waits for that.
func (l *Lab) Drain(i int) error {
	return l.birdc(l.Hosts[i].BirdSock, "disable", ServiceProtocol)
}

// Undrain announces the service from host i again (birdc enable service).
func (l *Lab) Undrain(i int) error {
	return l.birdc(l.Hosts[i].BirdSock, "enable", ServiceProtocol)
}

// Birdc runs birdc on host i's (or, with i = -1, the router's) BIRD and
// returns its output.
func (l *Lab) Birdc(i int, args ...string) (string, error) {
	sock := filepath.Join(l.cfg.Dir, "router.bird.ctl")
	if i >= 0 {
		sock = l.Hosts[i].BirdSock
	}
	out, err := exec.Command("birdc", append([]string{"-s", sock}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("birdc %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (l *Lab) birdc(sock string, args ...string) error {
	out, err := exec.Command("birdc", append([]string{"-s", sock}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("birdc %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (l *Lab) startBird(ns, name, config string) (*daemon, error) {
	conf := filepath.Join(l.cfg.Dir, name+".bird.conf")
	sock := filepath.Join(l.cfg.Dir, name+".bird.ctl")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		return nil, err
	}
	d, err := startDaemon(filepath.Join(l.cfg.Dir, name+".bird.log"),
		"ip", "netns", "exec", ns, "bird", "-f", "-c", conf, "-s", sock,
		"-P", filepath.Join(l.cfg.Dir, name+".bird.pid"))
	if err != nil {
		return nil, fmt.Errorf("%s: bird: %w", name, err)
	}
	err = d.waitReady(20*time.Second, func() error { return l.birdc(sock, "show", "status") })
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s: bird: %w", name, err), d.stop())
	}
	return d, nil
}

// RouterPaths returns the hosts (sorted indices) the router's main table
// sends the service address to: the nexthops of the route BIRD installed.
func (l *Lab) RouterPaths() ([]int, error) {
	out, err := exec.Command("ip", "-n", l.RouterNS, "-j", "route", "show", "table", "main",
		Service.String()+"/32").Output()
	if err != nil {
		return nil, fmt.Errorf("ip route show: %w", err)
	}
	return parseRoutePaths(out, l.hostByIf)
}

func (l *Lab) hostByIf(dev string) (int, bool) {
	for _, h := range l.Hosts {
		if h.RouterIf == dev {
			return h.Index, true
		}
	}
	return 0, false
}

// WaitPaths waits until RouterPaths equals want (sorted host indices).
func (l *Lab) WaitPaths(want []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := l.RouterPaths()
		if err == nil && slices.Equal(got, want) {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("router's route to %s goes to hosts %v, want %v", Service, got, want)
			}
			st, _ := l.Birdc(-1, "show", "protocols")
			return fmt.Errorf("after %v: %w\nrouter BIRD:\n%s", timeout, err, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stats reads host i's xdpmux counters through its control socket.
func (l *Lab) Stats(i int) (ctl.StatsSnapshot, error) {
	return ctl.Stats(l.Hosts[i].CtlPath)
}

// Delivered returns, per host, the datagrams delivered to each member
// (by endpoint name), and the drops of every kind summed; a host whose
// xdpmux is stopped has a nil map.
func (l *Lab) Delivered() ([]map[string]uint64, uint64, error) {
	out := make([]map[string]uint64, len(l.Hosts))
	var drops uint64
	for i := range l.Hosts {
		if !l.Running(i) {
			continue
		}
		s, err := l.Stats(i)
		if err != nil {
			return nil, 0, fmt.Errorf("host %d: %w", i, err)
		}
		m := make(map[string]uint64, len(s.Endpoints))
		for _, e := range s.Endpoints {
			m[e.Name] = e.Delivered
			drops += e.Dropped
		}
		drops += s.Totals.RingFull + s.Totals.ClosedDropped + s.Totals.Unmatched + s.Totals.MalformedTotal()
		out[i] = m
	}
	return out, drops, nil
}

// LinkDrops returns the router's tx_dropped counter of each host link
// (a veth counts there what its peer's ring could not take).
func (l *Lab) LinkDrops() (map[string]uint64, error) {
	out, err := exec.Command("ip", "-n", l.RouterNS, "-j", "-s", "link", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("ip -s link: %w", err)
	}
	var links []struct {
		Name  string `json:"ifname"`
		Stats struct {
			TX struct {
				Dropped uint64 `json:"dropped"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("ip -j -s link: %w", err)
	}
	m := map[string]uint64{}
	for _, k := range links {
		m[k.Name] = k.Stats.TX.Dropped
	}
	return m, nil
}
