package txgen

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/rxq"
)

// New validates cfg, resolves what it leaves to the system (interface,
// MTU, MAC addresses, source address, TX queues) in the calling thread's
// network namespace, builds the frames and opens the sockets of the
// backend. Errors name the offending value; on error nothing stays open.
func New(cfg Config) (*Generator, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	link, err := netlink.LinkByName(cfg.Ifname)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("interface %q: %w", cfg.Ifname, rxq.ErrNoInterface)
		}
		return nil, fmt.Errorf("interface %q: %w", cfg.Ifname, err)
	}
	la := link.Attrs()
	if la.MTU > 0 && cfg.Size > la.MTU+ethLen {
		return nil, badConfig("size %d: above MTU %d + 14 of %s", cfg.Size, la.MTU, cfg.Ifname)
	}
	if cfg.SrcMAC == nil {
		if len(la.HardwareAddr) != 6 {
			return nil, badConfig("interface %s has no Ethernet address (%q)", cfg.Ifname, la.HardwareAddr)
		}
		cfg.SrcMAC = append(net.HardwareAddr(nil), la.HardwareAddr...)
	}
	if !cfg.Src.IsValid() {
		a, err := firstAddr(link, cfg.Dst.Addr().Is6())
		if err != nil {
			return nil, err
		}
		cfg.Src = netip.PrefixFrom(a, a.BitLen())
	}
	if a := srcAddrs(cfg.Src); uint64(cfg.Flows) > a*NumSrcPorts {
		return nil, badConfig("flows %d: source range %s gives only %d (address, port) pairs",
			cfg.Flows, cfg.Src, a*NumSrcPorts)
	}
	if cfg.DstMAC == nil {
		if cfg.DstMAC, err = neighbour(link, cfg.Dst.Addr()); err != nil {
			return nil, err
		}
	}
	ntx := la.NumTxQueues
	if ntx <= 0 {
		m, _ := filepath.Glob(filepath.Join("/sys/class/net", cfg.Ifname, "queues", "tx-*"))
		ntx = max(len(m), 1)
	}
	if len(cfg.Queues) == 0 {
		for q := range ntx {
			cfg.Queues = append(cfg.Queues, q)
		}
	}
	for _, q := range cfg.Queues {
		if q >= ntx {
			return nil, badConfig("queue %d: %s has %d tx queues", q, cfg.Ifname, ntx)
		}
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}

	g := &Generator{cfg: cfg}
	g.frames = buildFrames(cfg.Size, cfg.Flows, cfg.Src, cfg.Dst, cfg.SrcMAC, cfg.DstMAC)
	switch cfg.Backend {
	case AFXDP:
		err = g.openAFXDP(la.Index)
	case AFPacket:
		err = g.openAFPacket(la.Index, link.Type())
	case Auto:
		if xerr := g.openAFXDP(la.Index); xerr != nil {
			cfg.Logf("txgen: AF_XDP TX on %s unavailable, falling back to AF_PACKET: %v", cfg.Ifname, xerr)
			if err = g.openAFPacket(la.Index, link.Type()); err != nil {
				err = fmt.Errorf("%w; after %w", err, xerr)
			}
			g.backend = "afpacket (afxdp failed)"
		}
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// firstAddr returns link's first IPv4 address, or with v6 its first
// global IPv6 one.
func firstAddr(link netlink.Link, v6 bool) (netip.Addr, error) {
	fam, name := netlink.FAMILY_V4, "IPv4"
	if v6 {
		fam, name = netlink.FAMILY_V6, "global IPv6"
	}
	addrs, err := netlink.AddrList(link, fam)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", link.Attrs().Name, err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		if !v6 && ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
		if v6 && ip.Is6() && !ip.Is4In6() && ip.IsGlobalUnicast() {
			return ip, nil
		}
	}
	return netip.Addr{}, badConfig("interface %s has no %s address: give a source range", link.Attrs().Name, name)
}

// neighbour finds the MAC address of the next hop towards dst on link in
// the kernel's neighbour table: dst itself, or the gateway of the route
// to it.
func neighbour(link netlink.Link, dst netip.Addr) (net.HardwareAddr, error) {
	hop := dst
	if routes, err := netlink.RouteGet(dst.AsSlice()); err == nil && len(routes) > 0 && routes[0].Gw != nil {
		if gw, ok := netip.AddrFromSlice(routes[0].Gw); ok {
			hop = gw.Unmap()
		}
	}
	fam := netlink.FAMILY_V4
	if hop.Is6() {
		fam = netlink.FAMILY_V6
	}
	neighs, err := netlink.NeighList(link.Attrs().Index, fam)
	if err != nil {
		return nil, fmt.Errorf("neighbour table of %s: %w", link.Attrs().Name, err)
	}
	for _, n := range neighs {
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || ip.Unmap() != hop || len(n.HardwareAddr) != 6 ||
			n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) != 0 {
			continue
		}
		return append(net.HardwareAddr(nil), n.HardwareAddr...), nil
	}
	if hop != dst {
		return nil, fmt.Errorf("destination %s via %s on %s: %w", dst, hop, link.Attrs().Name, ErrNoNeighbour)
	}
	return nil, fmt.Errorf("destination %s on %s: %w", dst, link.Attrs().Name, ErrNoNeighbour)
}

// nsenders is how many senders share the flows: one per queue, at most
// one per flow, and for AF_PACKET at most GOMAXPROCS.
func (g *Generator) nsenders(limit int) int {
	n := min(len(g.cfg.Queues), g.cfg.Flows)
	if limit > 0 {
		n = min(n, limit)
	}
	return max(n, 1)
}

func (g *Generator) openAFXDP(ifindex int) error {
	n := g.nsenders(0)
	for i := range n {
		s, err := newXDPSender(ifindex, g.cfg.Queues[i], g.cfg.Size, g.frames, newCursor(g.frames, i, n))
		if err != nil {
			g.closeSenders()
			return fmt.Errorf("afxdp tx on %s queue %d: %w", g.cfg.Ifname, g.cfg.Queues[i], err)
		}
		g.senders = append(g.senders, s)
	}
	g.backend = AFXDP.String()
	return nil
}

func (g *Generator) openAFPacket(ifindex int, linkType string) error {
	n := g.nsenders(runtime.GOMAXPROCS(0))
	// On a veth (a device without a queue) the kernel's TX queue choice,
	// by flow hash, is what spreads flows over the peer's RX queues; with
	// PACKET_QDISC_BYPASS it would pick the queue by CPU instead.
	bypass := linkType != "veth"
	for i := range n {
		s, err := newPacketSender(ifindex, bypass, g.cfg.Size, g.frames, newCursor(g.frames, i, n))
		if err != nil {
			g.closeSenders()
			if errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission) {
				err = fmt.Errorf("%w (AF_PACKET needs CAP_NET_RAW)", err)
			}
			return fmt.Errorf("afpacket on %s: %w", g.cfg.Ifname, err)
		}
		g.senders = append(g.senders, s)
	}
	g.backend = AFPacket.String()
	return nil
}

func (g *Generator) closeSenders() {
	for _, s := range g.senders {
		s.close()
	}
	g.senders = nil
}
