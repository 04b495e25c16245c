package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

const labPrefix = "xmdns"

// startIn starts a server in the lab's receiving namespace, stopped when
// the test ends.
func startIn(t testing.TB, lab *netlab.Lab, o options) *server {
	t.Helper()
	o.Iface = lab.RecvIf
	return labtest.StartInRecv(t, lab, func() (*server, error) { return start(o) }, (*server).close)
}

// TestServeXDP: queries from the sending namespace get correct answers
// through xdpmux, from the right address and port; a burst is answered
// without loss; every frame is back afterwards. Once with dns.Server on
// PacketConns, once with the -batch loops (Receive and Reply), and the
// kernel's -batch loop (recvmmsg, sendmmsg) for the answers alone.
func TestServeXDP(t *testing.T) { testServeXDP(t, false) }

// TestServeXDP6 is TestServeXDP over IPv6: an IPv6 lab, the server on
// [::]:53, queries to the receiver's 2001:2:: address.
func TestServeXDP6(t *testing.T) { testServeXDP(t, true) }

func testServeXDP(t *testing.T, v6 bool) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	for _, tc := range []struct {
		name string
		o    options
	}{
		{"dns.Server", options{}},
		{"batch", options{Batch: true}},
		{"kernel batch", options{Kernel: true, Batch: true}},
		{"handler", options{Handler: true}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkServe(t, tc.o, v6) })
	}
}

// checkServe is TestServeXDP (v6: TestServeXDP6) for one variant.
func checkServe(t *testing.T, o options, v6 bool) {
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: labPrefix, IPv6: v6})
	server, client, listen := netip.AddrPortFrom(lab.RecvAddr, 53), lab.SendAddr, "0.0.0.0:53"
	if v6 {
		server, client, listen = netip.AddrPortFrom(lab.RecvAddr6, 53), lab.SendAddr6, "[::]:53"
	}
	o.Members, o.Listen = 3, netip.MustParseAddrPort(listen)
	s := startIn(t, lab, o)

	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string
	}{
		{"www.example.test.", dns.TypeA, dns.RcodeSuccess, []string{"198.18.200.2", "198.18.200.3"}},
		{"WWW.Example.Test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"2001:2:0:c8::2"}},
		{"v6.example.test.", dns.TypeA, dns.RcodeSuccess, nil},
		{"v6.example.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"2001:2:0:c8::6"}},
		{"nope.example.test.", dns.TypeA, dns.RcodeNameError, nil},
		{"example.org.", dns.TypeA, dns.RcodeRefused, nil},
	}
	err := lab.InSend(func() error {
		for _, tc := range tests {
			// An unconnected socket, so that a reply from any address
			// would be seen (and rejected below).
			pc, err := net.ListenPacket("udp", netip.AddrPortFrom(client, 0).String())
			if err != nil {
				return err
			}
			defer pc.Close()
			q := new(dns.Msg)
			q.SetQuestion(tc.name, tc.qtype)
			b, _ := q.Pack()
			if _, err := pc.WriteTo(b, net.UDPAddrFromAddrPort(server)); err != nil {
				return err
			}
			pc.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 1500)
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return fmt.Errorf("%s %s: %w", tc.name, dns.TypeToString[tc.qtype], err)
			}
			if got := from.(*net.UDPAddr).AddrPort(); netip.AddrPortFrom(got.Addr().Unmap(), got.Port()) != server {
				t.Errorf("%s: reply from %v, want %v", tc.name, got, server)
			}
			var r dns.Msg
			if err := r.Unpack(buf[:n]); err != nil {
				return err
			}
			if r.Id != q.Id || r.Rcode != tc.rcode {
				t.Errorf("%s %s: id %d rcode %s, want id %d rcode %s", tc.name, dns.TypeToString[tc.qtype],
					r.Id, dns.RcodeToString[r.Rcode], q.Id, dns.RcodeToString[tc.rcode])
			}
			var got []string
			for _, rr := range r.Answer {
				switch rr := rr.(type) {
				case *dns.A:
					got = append(got, rr.A.String())
				case *dns.AAAA:
					got = append(got, rr.AAAA.String())
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s %s: got %v, want %v", tc.name, dns.TypeToString[tc.qtype], got, tc.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A burst from many source ports (spread over queues and members) at
	// a moderate rate: every query answered.
	const burst = 2000
	var lost int
	err = lab.InSend(func() error {
		var err error
		lost, err = burstQueries(client, server, burst, 50, 20*time.Microsecond)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if lost != 0 {
		t.Errorf("burst: %d of %d queries lost", lost, burst)
	}

	if path, err := exec.LookPath("kdig"); err == nil {
		var out []byte
		err := lab.InSend(func() (err error) {
			out, err = exec.Command(path, "@"+server.Addr().String(), "+short", "+timeout=2", "+retry=0", "www.example.test.", "AAAA").CombinedOutput()
			return err
		})
		if err != nil || strings.TrimSpace(string(out)) != "2001:2:0:c8::2" {
			t.Errorf("kdig AAAA: got %q, %v, want 2001:2:0:c8::2", out, err)
		}
	}

	if s.ifc == nil {
		return // the kernel's sockets: no frames to account for
	}
	// Every frame back: nothing in flight, accounting exact.
	deadline := time.Now().Add(5 * time.Second)
	for {
		inflight := 0
		for _, q := range s.ifc.TXStats() {
			inflight += q.InFlight
		}
		if inflight == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.ifc.CheckFrames(); err != nil {
		t.Error(err)
	}
	var sent uint64
	for _, q := range s.ifc.TXStats() {
		if !q.Supported || q.Dropped != 0 {
			t.Errorf("TX stats: %+v", q)
		}
		sent += q.Sent
	}
	// Everything went through xdpmux, not the kernel's stack.
	tot := s.ifc.Stats().Totals()
	if min := uint64(burst + len(tests)); tot.Delivered < min || sent < min {
		t.Errorf("delivered %d, sent %d: want at least %d each", tot.Delivered, sent, min)
	}
	t.Logf("rx %d delivered %d, tx sent %d", tot.RX, tot.Delivered, sent)
}

// burstQueries sends n A queries from ports sockets, one every gap, and
// reads the answers; it returns how many were not answered (or answered
// wrongly) within a second of the last query.
func burstQueries(src netip.Addr, server netip.AddrPort, n, ports int, gap time.Duration) (int, error) {
	conns := make([]net.PacketConn, ports)
	for i := range conns {
		pc, err := net.ListenPacket("udp", netip.AddrPortFrom(src, 0).String())
		if err != nil {
			return n, err
		}
		defer pc.Close()
		conns[i] = pc
	}
	got := make(chan uint16, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, pc := range conns {
		go func() {
			buf := make([]byte, 1500)
			for ctx.Err() == nil {
				pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				k, from, err := pc.ReadFrom(buf)
				if err != nil {
					continue
				}
				var r dns.Msg
				if from.(*net.UDPAddr).Port != int(server.Port()) || r.Unpack(buf[:k]) != nil ||
					len(r.Answer) != 2 {
					continue
				}
				got <- r.Id
			}
		}()
	}
	dst := net.UDPAddrFromAddrPort(server)
	q := new(dns.Msg)
	q.SetQuestion("www.example.test.", dns.TypeA)
	next := time.Now()
	for i := range n {
		q.Id = uint16(i)
		b, _ := q.Pack()
		if _, err := conns[i%ports].WriteTo(b, dst); err != nil {
			return n, err
		}
		next = next.Add(gap)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	seen := make(map[uint16]bool, n)
	timeout := time.After(time.Second + time.Duration(n)*gap)
	for len(seen) < n {
		select {
		case id := <-got:
			seen[id] = true
		case <-timeout:
			return n - len(seen), nil
		}
	}
	return 0, nil
}

// TestDNSPerf compares the xdpmux and kernel variants (the kernel's
// sockets tuned: SO_RCVBUF at net.core.rmem_max), each with dns.Server and
// with the -batch loops, with dnsperf from the
// sending namespace, one lab each, in one run. It runs only with
// XDPMUX_DNSPERF=1 (scripts/dnsperf.sh sets it; it measures, which tests
// otherwise never do), and then fails without dnsperf (Debian package
// dnsperf). XDPMUX_DNSPERF_QPS sets the offered rates of the paced runs
// (comma separated, default 20000,100000; a max run without -Q follows),
// XDPMUX_DNSPERF_QUICK=1 makes each run 1 s (the smoke run: the report's
// shape is checked, never speed), XDPMUX_DNSPERF_OUT names the JSON report
// to write.
func TestDNSPerf(t *testing.T) {
	if os.Getenv("XDPMUX_DNSPERF") != "1" {
		t.Skip("set XDPMUX_DNSPERF=1 to measure with dnsperf")
	}
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	path, err := exec.LookPath("dnsperf")
	if err != nil {
		t.Fatal("dnsperf not installed: apt-get install dnsperf")
	}
	rates := []int{20000, 100000}
	if v := os.Getenv("XDPMUX_DNSPERF_QPS"); v != "" {
		rates = nil
		for _, f := range strings.Split(v, ",") {
			r, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || r <= 0 {
				t.Fatalf("XDPMUX_DNSPERF_QPS %q: want positive integers", v)
			}
			rates = append(rates, r)
		}
	}
	quick := os.Getenv("XDPMUX_DNSPERF_QUICK") == "1"
	secs := "10"
	if quick {
		secs = "1"
	}
	dir := t.TempDir()
	data := dir + "/queries"
	var qs bytes.Buffer
	for _, n := range []string{"www", "ns", "mail", "v6", ""} {
		name := strings.TrimPrefix(n+".example.test", ".")
		fmt.Fprintf(&qs, "%s A\n%s AAAA\n", name, name)
	}
	if err := os.WriteFile(data, qs.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	const members = 2
	rep := perfReport{Schema: perfSchema, Date: time.Now().UTC().Format(time.RFC3339), Quick: quick,
		Queues: 2, Members: members,
		Args: []string{"-l", secs, "-c", "8", "-T", "2", "-q", "500", "-t", "2", "-v"}}
	for _, v := range []struct {
		name                   string
		kernel, batch, handler bool
	}{{"xdpmux", false, false, false}, {"kernel", true, false, false}, {"xdpmux-batch", false, true, false},
		{"kernel-batch", true, true, false}, {"xdpmux-handler", false, false, true}} {
		name, kernel := v.name, v.kernel
		t.Run(name, func(t *testing.T) {
			lab := labtest.NewLab(t, netlab.Config{Queues: rep.Queues, Prefix: labPrefix})
			s := startIn(t, lab, options{Members: members, Listen: netip.MustParseAddrPort("0.0.0.0:53"), Kernel: kernel, Batch: v.batch, Handler: v.handler})
			if kernel {
				rep.RcvBuf = s.rcvbuf
			}
			for _, rate := range append(slices.Clone(rates), 0) {
				args := append([]string{"-s", lab.RecvAddr.String(), "-d", data}, rep.Args...)
				if rate > 0 {
					args = append(args, "-Q", strconv.Itoa(rate))
				}
				// dnsperf -v writes a line per query (hundreds of MB at
				// max): into a file, so that no reader in this process,
				// which is also the server, competes with what it measures.
				out, err := runToFile(lab, dir+"/dnsperf.out", path, args...)
				if err != nil {
					t.Fatalf("dnsperf %v: %v\n%.2000s", args, err, out)
				}
				run, err := parseDNSPerf(out)
				if err != nil {
					t.Fatal(err)
				}
				run.Variant, run.OfferedQPS = name, rate
				rep.Runs = append(rep.Runs, run)
				t.Logf("%s, offered %s: %.0f QPS, lost %d, latency ms: mean %.3f p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f",
					name, rateName(rate), run.QPS, run.Lost, run.MeanMs, run.P50Ms, run.P90Ms, run.P99Ms, run.P999Ms, run.MaxMs)
			}
		})
	}
	if err := rep.check(); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("XDPMUX_DNSPERF_OUT"); out != "" {
		b, err := json.MarshalIndent(&rep, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runToFile runs the command in the lab's sending namespace with its output
// into the file at path, and returns that output.
func runToFile(lab *netlab.Lab, path, name string, args ...string) ([]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	err = lab.InSend(cmd.Run)
	out, rerr := os.ReadFile(path)
	return out, errors.Join(err, rerr)
}

func rateName(r int) string {
	if r == 0 {
		return "max"
	}
	return strconv.Itoa(r) + " qps"
}
