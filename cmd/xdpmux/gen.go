package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/xdpmux/xdpmux/bench/txgen"
	"github.com/xdpmux/xdpmux/rxq"
)

const genUsage = `usage: xdpmux gen -iface IF [-dst ADDR:PORT] [-flows N] [-rate PPS] [-size B]
                  [-duration D] [-count N] [-src-range CIDR] [-backend auto|afxdp|afpacket]
                  [-dst-mac MAC] [-netns NAME] [-allow-any-dst] [-json]

Sends UDP frames on IF (pktgen-style), IPv4 or IPv6 by -dst's address
(IPv6 frames carry a UDP checksum and are at least 78 bytes: -size 64,
the default, becomes 78), through AF_XDP TX rings or AF_PACKET. Prints one line a second (t=SECONDS sent=TOTAL pps=LAST_SECOND
errors=TOTAL) and a summary; with -json only one final JSON object
{"sent":N,"errors":N,"seconds":F,"pps":F,"backend":S}. SIGINT stops it
with the summary. Destinations must lie in 198.18.0.0/15 or
2001:2::/48 unless -allow-any-dst is given.
`

// genDefaultDst is the default destination: the first host of the
// benchmarking range, port 9 (discard).
const genDefaultDst = "198.18.0.1:9"

// genResult is the -json output.
type genResult struct {
	Sent    uint64  `json:"sent"`
	Errors  uint64  `json:"errors"`
	Seconds float64 `json:"seconds"`
	PPS     float64 `json:"pps"`
	Backend string  `json:"backend"`
}

// errUsage marks errors in flags and their values (exit status 2).
var errUsage = errors.New("usage")

func cmdGen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	iface := fs.String("iface", "", "interface to send on (required)")
	dst := fs.String("dst", genDefaultDst, "destination ADDR:PORT (ADDR alone: port 9)")
	flows := fs.Int("flows", txgen.DefaultFlows, "distinct (source address, source port) pairs")
	rate := fs.Float64("rate", 0, "packets per second in all (0: as fast as possible)")
	size := fs.Int("size", txgen.DefaultSize, "frame size in bytes, Ethernet header included, FCS excluded")
	duration := fs.Duration("duration", 0, "stop after this long (0: no limit)")
	count := fs.Uint64("count", 0, "stop after this many packets (0: no limit)")
	srcRange := fs.String("src-range", "", "source addresses, CIDR (default: the interface's IPv4, or global IPv6, address)")
	backend := fs.String("backend", "auto", "auto, afxdp or afpacket")
	dstMAC := fs.String("dst-mac", "", "destination MAC (default: from the neighbour table)")
	nsName := fs.String("netns", "", "run inside the named network namespace (/run/netns/NAME)")
	anyDst := fs.Bool("allow-any-dst", false, "allow destinations outside 198.18.0.0/15 and 2001:2::/48")
	asJSON := fs.Bool("json", false, "print only a final JSON object")

	fail := func(err error) int {
		fmt.Fprintf(stderr, "xdpmux gen: %v\n", err)
		if errors.Is(err, errUsage) || errors.Is(err, txgen.ErrBadConfig) ||
			errors.Is(err, txgen.ErrDstOutsideBenchRange) || errors.Is(err, txgen.ErrNoNeighbour) ||
			errors.Is(err, rxq.ErrNoInterface) {
			return 2
		}
		return 1
	}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, genUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err != nil {
		return fail(fmt.Errorf("%w: %w", errUsage, err))
	}
	cfg, err := genConfig(fs.Args(), *iface, *dst, *flows, *rate, *size, *duration, *count,
		*srcRange, *backend, *dstMAC, *anyDst)
	if err != nil {
		return fail(err)
	}
	cfg.Logf = func(format string, args ...any) {
		fmt.Fprintf(stderr, "xdpmux gen: "+format+"\n", args...)
	}

	var g *txgen.Generator
	newGen := func() (err error) {
		g, err = txgen.New(cfg)
		return err
	}
	if *nsName != "" {
		err = inNetns(*nsName, newGen)
	} else {
		err = newGen()
	}
	if err != nil {
		return fail(err)
	}
	defer g.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var last txgen.Stats
	progress := func(s txgen.Stats) {
		if *asJSON {
			return
		}
		pps := float64(s.Sent-last.Sent) / (s.Elapsed - last.Elapsed).Seconds()
		fmt.Fprintf(stdout, "t=%ds sent=%d pps=%.0f errors=%d\n",
			int(s.Elapsed.Round(time.Second)/time.Second), s.Sent, pps, s.Errors)
		last = s
	}
	st, runErr := g.Run(ctx, progress)
	res := genResult{Sent: st.Sent, Errors: st.Errors, Seconds: st.Elapsed.Seconds(),
		PPS: st.PPS(), Backend: st.Backend}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return fail(err)
		}
	} else {
		fmt.Fprintf(stdout, "done: sent=%d errors=%d seconds=%.3f pps=%.0f backend=%s\n",
			res.Sent, res.Errors, res.Seconds, res.PPS, res.Backend)
	}
	if runErr != nil {
		return fail(runErr)
	}
	if err := g.Close(); err != nil {
		return fail(err)
	}
	return 0
}

// genConfig turns the flags into a txgen.Config; errors wrap errUsage.
func genConfig(rest []string, iface, dst string, flows int, rate float64, size int,
	duration time.Duration, count uint64, srcRange, backend, dstMAC string, anyDst bool) (txgen.Config, error) {
	bad := func(format string, args ...any) (txgen.Config, error) {
		return txgen.Config{}, fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
	}
	if len(rest) > 0 {
		return bad("unexpected argument %q", rest[0])
	}
	if iface == "" {
		return bad("-iface is required")
	}
	d, err := netip.ParseAddrPort(dst)
	if err != nil {
		a, aerr := netip.ParseAddr(dst)
		if aerr != nil {
			return bad("-dst %q: want ADDR:PORT", dst)
		}
		d = netip.AddrPortFrom(a, 9)
	}
	if flows < 1 {
		return bad("-flows %d: must be at least 1", flows)
	}
	if size < txgen.MinSize {
		return bad("-size %d: must be at least %d", size, txgen.MinSize)
	}
	if d.Addr().Unmap().Is6() {
		if size == txgen.DefaultSize {
			size = txgen.MinSize6
		}
		if size < txgen.MinSize6 {
			return bad("-size %d: IPv6 frames must be at least %d", size, txgen.MinSize6)
		}
	}
	if rate < 0 {
		return bad("-rate %v: must be >= 0", rate)
	}
	if duration < 0 {
		return bad("-duration %v: must be >= 0", duration)
	}
	b, err := txgen.ParseBackend(backend)
	if err != nil {
		return bad("-backend %q: want auto, afxdp or afpacket", backend)
	}
	cfg := txgen.Config{Ifname: iface, Dst: d, Flows: flows, Rate: rate, Size: size,
		Duration: duration, Count: count, Backend: b, AllowAnyDst: anyDst}
	if srcRange != "" {
		p, err := netip.ParsePrefix(srcRange)
		if err != nil {
			a, aerr := netip.ParseAddr(srcRange)
			if aerr != nil {
				return bad("-src-range %q: want CIDR", srcRange)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		cfg.Src = p
	}
	if dstMAC != "" {
		m, err := net.ParseMAC(dstMAC)
		if err != nil || len(m) != 6 {
			return bad("-dst-mac %q: want an Ethernet MAC address", dstMAC)
		}
		cfg.DstMAC = m
	}
	return cfg, nil
}

// inNetns runs fn on a locked OS thread switched into the named network
// namespace: the sockets fn opens belong to it for their lifetime. The
// thread runs on a goroutine of its own, so that if it cannot switch back
// it dies with that goroutine.
func inNetns(name string, fn func() error) error {
	if name == "" || strings.ContainsAny(name, "/") {
		return fmt.Errorf("%w: -netns %q: want a name from /run/netns", errUsage, name)
	}
	target, err := netns.GetFromName(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: -netns %q: no such network namespace in /run/netns", errUsage, name)
		}
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it exits with this goroutine.
			done <- errors.Join(ferr, fmt.Errorf("leave netns %s: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}
