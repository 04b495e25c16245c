//go:build linux

package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` and netns.NewNamed keep named namespaces.
const netnsDir = "/run/netns"

func randHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func validPrefix(p string) bool {
	if p == "" || len(p) > 6 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// New builds a lab: namespaces PREFIX-PID-RAND-r and PREFIX-PID-RAND-s, a
// veth pair PREFIXRANDr/PREFIXRANDs with cfg.Queues rx and tx queues, the
// addresses 198.18.X.2/24 (receiver) and 198.18.X.1/24 (sender) with X
// random, IPv6 disabled (or, with cfg.IPv6, 2001:2:0:Y::2/64 and ::1/64 with
// Y random, see Config.IPv6), links and loopbacks up, and permanent
// neighbour entries both ways so that no ARP or neighbour discovery is
// needed (both still work). On error everything built so
// far is removed. New does not change the caller's namespace.
func New(cfg Config) (*Lab, error) {
	if cfg.Queues == 0 {
		cfg.Queues = 1
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.Queues < 1 || cfg.Queues > MaxQueues {
		return nil, fmt.Errorf("%w: queues %d not in [1, %d]", ErrBadConfig, cfg.Queues, MaxQueues)
	}
	if !validPrefix(cfg.Prefix) {
		return nil, fmt.Errorf("%w: prefix %q: want 1-6 letters or digits", ErrBadConfig, cfg.Prefix)
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("%w: mtu %d", ErrBadConfig, cfg.MTU)
	}
	suffix, err := randHex(3)
	if err != nil {
		return nil, fmt.Errorf("netlab: random name: %w", err)
	}
	var xb [3]byte // X, then Y
	if _, err := rand.Read(xb[:]); err != nil {
		return nil, fmt.Errorf("netlab: random subnet: %w", err)
	}
	base := fmt.Sprintf("%s-%d-%s", cfg.Prefix, os.Getpid(), suffix)
	l := &Lab{
		RecvNS:   base + "-r",
		SendNS:   base + "-s",
		RecvIf:   cfg.Prefix + suffix + "r",
		SendIf:   cfg.Prefix + suffix + "s",
		RecvAddr: netip.AddrFrom4([4]byte{198, 18, xb[0], 2}),
		SendAddr: netip.AddrFrom4([4]byte{198, 18, xb[0], 1}),
		Queues:   cfg.Queues,
	}
	if cfg.IPv6 {
		l.RecvAddr6 = netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 0, 0, xb[1], xb[2], 15: 2})
		l.SendAddr6 = netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 0, 0, xb[1], xb[2], 15: 1})
	}
	if err := l.build(cfg); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, fmt.Errorf("netlab: %w", err)
	}
	return l, nil
}

// newNamed creates a named namespace without leaving the caller's thread
// in it.
func newNamed(name string) (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			c <- result{err: fmt.Errorf("get netns: %w", err)}
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name) // switches this thread into it
		rerr := netns.Set(orig)
		if rerr == nil {
			runtime.UnlockOSThread()
		} // else the locked thread dies with this goroutine
		if err != nil {
			c <- result{err: fmt.Errorf("create netns %s: %w", name, err)}
			return
		}
		if rerr != nil {
			h.Close()
			c <- result{err: fmt.Errorf("restore netns after creating %s: %w", name, rerr)}
			return
		}
		c <- result{h: h}
	}()
	r := <-c
	return r.h, r.err
}

func (l *Lab) build(cfg Config) error {
	rns, err := newNamed(l.RecvNS)
	if err != nil {
		return err
	}
	defer rns.Close()
	sns, err := newNamed(l.SendNS)
	if err != nil {
		return err
	}
	defer sns.Close()

	// A quiet lab: no IPv6 autoconfiguration or neighbour discovery
	// traffic, so tests and benchmarks can count every frame. With IPv6,
	// static addresses and neighbours only.
	quiet := disableIPv6
	if cfg.IPv6 {
		quiet = quietIPv6
	}
	for _, name := range []string{l.RecvNS, l.SendNS} {
		if err := inNS(name, quiet); err != nil {
			return err
		}
	}

	rh, err := netlink.NewHandleAt(rns)
	if err != nil {
		return fmt.Errorf("netlink handle in %s: %w", l.RecvNS, err)
	}
	defer rh.Close()
	sh, err := netlink.NewHandleAt(sns)
	if err != nil {
		return fmt.Errorf("netlink handle in %s: %w", l.SendNS, err)
	}
	defer sh.Close()

	attrs := netlink.NewLinkAttrs()
	attrs.Name = l.SendIf
	attrs.NumTxQueues = cfg.Queues
	attrs.NumRxQueues = cfg.Queues
	attrs.MTU = cfg.MTU
	veth := netlink.NewVeth(attrs)
	veth.PeerName = l.RecvIf
	veth.PeerNamespace = netlink.NsFd(rns)
	if err := sh.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s/%s: %w", l.SendIf, l.RecvIf, err)
	}

	rl, err := rh.LinkByName(l.RecvIf)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", l.RecvIf, l.RecvNS, err)
	}
	sl, err := sh.LinkByName(l.SendIf)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", l.SendIf, l.SendNS, err)
	}
	l.RecvIndex = rl.Attrs().Index
	l.RecvMAC = append(net.HardwareAddr(nil), rl.Attrs().HardwareAddr...)
	l.SendMAC = append(net.HardwareAddr(nil), sl.Attrs().HardwareAddr...)

	side := []struct {
		h        *netlink.Handle
		ns       string
		link     netlink.Link
		addr     netip.Addr
		peer     netip.Addr
		addr6    netip.Addr
		peer6    netip.Addr
		peerMAC  net.HardwareAddr
		linkName string
	}{
		{rh, l.RecvNS, rl, l.RecvAddr, l.SendAddr, l.RecvAddr6, l.SendAddr6, l.SendMAC, l.RecvIf},
		{sh, l.SendNS, sl, l.SendAddr, l.RecvAddr, l.SendAddr6, l.RecvAddr6, l.RecvMAC, l.SendIf},
	}
	for _, s := range side {
		lo, err := s.h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo in %s: %w", s.ns, err)
		}
		if err := s.h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up in %s: %w", s.ns, err)
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: s.addr.AsSlice(), Mask: net.CIDRMask(24, 32)}}
		if err := s.h.AddrAdd(s.link, addr); err != nil {
			return fmt.Errorf("add %s/24 to %s: %w", s.addr, s.linkName, err)
		}
		if err := s.h.LinkSetUp(s.link); err != nil {
			return fmt.Errorf("set %s up: %w", s.linkName, err)
		}
		neigh := &netlink.Neigh{
			LinkIndex:    s.link.Attrs().Index,
			Family:       unix.AF_INET,
			State:        netlink.NUD_PERMANENT,
			IP:           s.peer.AsSlice(),
			HardwareAddr: s.peerMAC,
		}
		if err := s.h.NeighSet(neigh); err != nil {
			return fmt.Errorf("add neighbour %s on %s: %w", s.peer, s.linkName, err)
		}
		if !s.addr6.IsValid() {
			continue
		}
		addr6 := &netlink.Addr{
			IPNet: &net.IPNet{IP: s.addr6.AsSlice(), Mask: net.CIDRMask(64, 128)},
			Flags: unix.IFA_F_NODAD,
		}
		if err := s.h.AddrAdd(s.link, addr6); err != nil {
			return fmt.Errorf("add %s/64 to %s: %w", s.addr6, s.linkName, err)
		}
		neigh6 := *neigh
		neigh6.Family, neigh6.IP = unix.AF_INET6, s.peer6.AsSlice()
		if err := s.h.NeighSet(&neigh6); err != nil {
			return fmt.Errorf("add neighbour %s on %s: %w", s.peer6, s.linkName, err)
		}
	}
	// The kernel activates a link's qdisc (and reports it "up") from its
	// linkwatch work, a moment after both ends are up: until then what the
	// kernel's own stack sends on it is dropped (AF_XDP and XDP_REDIRECT
	// are not, which hid it). The same work then tells addrconf, which
	// only then clears an IPv6 address's tentative flag (even with
	// IFA_F_NODAD): until then frames to it are dropped. Wait for both,
	// so that the lab is ready when New returns.
	for _, s := range side {
		if err := waitReady(s.h, s.linkName, s.addr6); err != nil {
			return err
		}
	}
	return nil
}

// waitReady waits up to linkReady for the link's operational state to be
// up and, when addr6 is valid, for addr6 on it to be no longer tentative
// and routed as local.
func waitReady(h *netlink.Handle, name string, addr6 netip.Addr) error {
	deadline := time.Now().Add(linkReady)
	for {
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s: %w", name, err)
		}
		state := "operational state " + l.Attrs().OperState.String()
		if l.Attrs().OperState == netlink.OperUp {
			if !addr6.IsValid() {
				return nil
			}
			state = addr6.String() + " tentative"
			addrs, err := h.AddrList(l, netlink.FAMILY_V6)
			if err != nil {
				return fmt.Errorf("list addresses of %s: %w", name, err)
			}
			for _, a := range addrs {
				if ip, ok := netip.AddrFromSlice(a.IP); ok && ip == addr6 && a.Flags&unix.IFA_F_TENTATIVE == 0 {
					state = addr6.String() + " without its local route"
					// addrconf inserts the local route after it
					// clears the flag.
					if rs, err := h.RouteGet(addr6.AsSlice()); err == nil && len(rs) > 0 && rs[0].Type == unix.RTN_LOCAL {
						return nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %s", name, linkReady, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// linkReady bounds waitReady: linkwatch runs within a second.
const linkReady = 3 * time.Second

// disableIPv6 turns IPv6 off for all present and future interfaces of the
// calling thread's namespace (/proc/sys/net follows the thread's namespace).
func disableIPv6() error {
	for _, conf := range []string{"all", "default"} {
		p := filepath.Join("/proc/sys/net/ipv6/conf", conf, "disable_ipv6")
		if err := os.WriteFile(p, []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disable ipv6: %w", err)
		}
	}
	return nil
}

// quietIPv6 keeps IPv6 on but nearly silent for all present and future
// interfaces of the calling thread's namespace: no router solicitations or
// advertisements, no autoconfiguration and no duplicate address detection,
// so the addresses are the lab's static ones and each interface's
// link-local one (which the kernel needs as the source of its neighbour
// solicitations), and neighbour discovery runs only when an entry is
// missing. Joining multicast groups still sends MLD reports, which the XDP
// program passes to the kernel.
func quietIPv6() error {
	for _, conf := range []string{"all", "default"} {
		for _, kv := range [][2]string{
			{"disable_ipv6", "0"}, {"accept_ra", "0"}, {"autoconf", "0"},
			{"accept_dad", "0"}, {"dad_transmits", "0"},
			{"router_solicitations", "0"},
		} {
			p := filepath.Join("/proc/sys/net/ipv6/conf", conf, kv[0])
			if err := os.WriteFile(p, []byte(kv[1]), 0); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("quiet ipv6: %w: no IPv6 in this kernel", ErrNotSupported)
				}
				return fmt.Errorf("quiet ipv6: %s: %w", p, err)
			}
		}
	}
	return nil
}

// Close deletes both namespaces, and so the veth pair. It is idempotent and
// safe on a half-built lab. A namespace still referenced (an open socket or
// namespace fd, a process inside) lives on, unnamed, until released.
func (l *Lab) Close() error {
	var errs []error
	for _, name := range []string{l.SendNS, l.RecvNS} {
		if err := deleteNamed(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func deleteNamed(name string) error {
	if name == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// InRecv runs fn on a locked OS thread switched into RecvNS, like
// `ip netns exec`. Sockets fn opens belong to RecvNS for their lifetime;
// goroutines fn starts do not run in RecvNS.
func (l *Lab) InRecv(fn func() error) error { return inNS(l.RecvNS, fn) }

// InSend runs fn on a locked OS thread switched into SendNS.
func (l *Lab) InSend(fn func() error) error { return inNS(l.SendNS, fn) }

// inNS runs fn on the calling goroutine, its thread locked and switched into
// the namespace name, and switches the thread back afterwards, also when fn
// panics. If the thread cannot be switched back it stays locked, so it
// never runs another goroutine and dies with this one.
func inNS(name string, fn func() error) (err error) {
	target, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("netlab: open netns %s: %w", name, err)
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: get netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: enter netns %s: %w", name, err)
	}
	defer func() {
		if rerr := netns.Set(orig); rerr != nil {
			err = errors.Join(err, fmt.Errorf("netlab: leave netns %s: %w", name, rerr))
			return // thread stays locked
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// Cleanup deletes the namespaces named PREFIX-PID-... that were left by
// processes that no longer exist (crashed runs). Namespaces of live
// processes, this one included, are left alone, so it is safe to call at
// test start while other test binaries run. Errors are ignored.
func Cleanup(prefix string) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix+"-")
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		_ = deleteNamed(e.Name())
	}
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// NewNamespace creates the named network namespace (/run/netns/NAME)
// without leaving the caller's thread in it. Labs that build their own
// topology (bench/ecmp, tests with a third namespace) use it rather than
// `ip netns add`, which may turn /run/netns into a mount point of its own
// and so hide the namespaces other labs made before it from their
// cleanup.
func NewNamespace(name string) error {
	h, err := newNamed(name)
	if err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	return h.Close()
}

// DeleteNamespace deletes a namespace NewNamespace (or New) made; a missing
// one is not an error.
func DeleteNamespace(name string) error {
	if err := deleteNamed(name); err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	return nil
}

// InNamespace runs fn on a locked OS thread switched into the named
// namespace, as Lab.InRecv does for the lab's own.
func InNamespace(name string, fn func() error) error { return inNS(name, fn) }
