package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

func runGen(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = cmdGen(args, &o, &e)
	return code, o.String(), e.String()
}

// TestGenBadArgs: bad flags and values give exit status 2 and one line
// naming the value; none of these needs root or touches the system.
func TestGenBadArgs(t *testing.T) {
	tests := []struct {
		args   []string
		substr string
	}{
		{[]string{"-dst", "198.18.0.2:9"}, "-iface is required"},
		{[]string{"-iface", "eth0", "-dst", "10.1.2.3:53"}, "10.1.2.3"},
		{[]string{"-iface", "eth0", "-dst", "192.0.2.1"}, "198.18.0.0/15"},
		{[]string{"-iface", "eth0", "-dst", "nowhere"}, `"nowhere"`},
		{[]string{"-iface", "eth0", "-dst", "[2001:db8::1]:9"}, "2001:2::/48"},
		{[]string{"-iface", "eth0", "-dst", "[2001:2::2]:9", "-size", "70"}, "-size 70: IPv6"},
		{[]string{"-iface", "eth0", "-flows", "0"}, "-flows 0"},
		{[]string{"-iface", "eth0", "-size", "20"}, "-size 20"},
		{[]string{"-iface", "eth0", "-rate", "-5"}, "-rate -5"},
		{[]string{"-iface", "eth0", "-backend", "dpdk"}, `"dpdk"`},
		{[]string{"-iface", "eth0", "-dst-mac", "zz:zz"}, `"zz:zz"`},
		{[]string{"-iface", "eth0", "-src-range", "198.18.0.0/99"}, `"198.18.0.0/99"`},
		{[]string{"-iface", "eth0", "-duration", "-1s"}, "-duration -1s"},
		{[]string{"-iface", "eth0", "extra"}, `"extra"`},
		{[]string{"-iface", "eth0", "-bogus"}, "-bogus"},
		{[]string{"-iface", "eth0", "-count", "x"}, "-count"},
		{[]string{"-iface", "eth0", "-netns", "xm-no-such-ns-" + fmt.Sprint(os.Getpid())}, "xm-no-such-ns-"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runGen(tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(errOut, "xdpmux gen: ") || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr %q: want one line starting with xdpmux gen:", errOut)
			}
			if !strings.Contains(errOut, tt.substr) {
				t.Errorf("stderr %q does not name %q", errOut, tt.substr)
			}
		})
	}
}

func TestGenHelp(t *testing.T) {
	code, out, _ := runGen("-h")
	if code != 0 || !strings.Contains(out, "usage: xdpmux gen") || !strings.Contains(out, "-allow-any-dst") {
		t.Errorf("exit %d, stdout %q", code, out)
	}
}

// TestGenNetns runs `xdpmux gen -netns` into a lab and checks the JSON
// summary against what the XDP program on the receiving end counted.
func TestGenNetns(t *testing.T) {
	const count = 5000
	lab := labtest.NewLab(t, netlab.Config{Queues: 2})
	var prog *xdpprog.Program
	if err := lab.InRecv(func() (err error) {
		prog, err = xdpprog.Attach(lab.RecvIndex, xdpprog.Options{DropClaimed: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	if err := prog.Claim(xdpprog.ProtoUDP, lab.RecvAddr, 4242); err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"afxdp", "afpacket"} {
		t.Run(backend, func(t *testing.T) {
			before := dropped(t, prog)
			code, out, errOut := runGen("-iface", lab.SendIf, "-netns", lab.SendNS,
				"-dst", fmt.Sprintf("%s:4242", lab.RecvAddr), "-count", fmt.Sprint(count),
				"-rate", "50000", "-flows", "32", "-backend", backend, "-json")
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var res genResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("stdout %q: %v", out, err)
			}
			if res.Sent != count || res.Errors != 0 || res.Backend != backend || res.Seconds <= 0 || res.PPS <= 0 {
				t.Errorf("result %+v, want %d sent by %s", res, count, backend)
			}
			var got uint64
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if got = dropped(t, prog) - before; got >= count {
					break
				}
			}
			if got != count {
				t.Errorf("receiver counted %d, want %d", got, count)
			}
		})
	}

	// Text mode: one line a second and the summary.
	code, out, errOut := runGen("-iface", lab.SendIf, "-netns", lab.SendNS,
		"-dst", fmt.Sprintf("%s:4242", lab.RecvAddr), "-rate", "10000", "-duration", "1500ms")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "t=1s sent=") ||
		!strings.HasPrefix(lines[len(lines)-1], "done: sent=") {
		t.Errorf("stdout %q", out)
	}

	// An unknown interface inside the namespace is a bad value.
	code, _, errOut = runGen("-iface", "nosuchif0", "-netns", lab.SendNS, "-dst", "198.18.0.2:9")
	if code != 2 || !strings.Contains(errOut, "nosuchif0") {
		t.Errorf("unknown interface: exit %d, stderr %q", code, errOut)
	}
}

// TestGenNetns6 is TestGenNetns's count check over IPv6: -dst the IPv6
// lab's receiver, the default size (78 for IPv6), counted by the XDP
// program on its IPv6 claim.
func TestGenNetns6(t *testing.T) {
	const count = 3000
	lab := labtest.NewLab(t, netlab.Config{Queues: 2, IPv6: true})
	var prog *xdpprog.Program
	if err := lab.InRecv(func() (err error) {
		prog, err = xdpprog.Attach(lab.RecvIndex, xdpprog.Options{DropClaimed: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	if err := prog.Claim(xdpprog.ProtoUDP, lab.RecvAddr6, 4242); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runGen("-iface", lab.SendIf, "-netns", lab.SendNS,
		"-dst", netip.AddrPortFrom(lab.RecvAddr6, 4242).String(), "-count", fmt.Sprint(count),
		"-rate", "50000", "-flows", "32", "-backend", "afxdp", "-json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var res genResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if res.Sent != count || res.Errors != 0 {
		t.Errorf("result %+v, want %d sent", res, count)
	}
	var got uint64
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = dropped(t, prog); got >= count {
			break
		}
	}
	if got != count {
		t.Errorf("receiver counted %d, want %d", got, count)
	}
}

func dropped(t *testing.T, p *xdpprog.Program) uint64 {
	t.Helper()
	cs, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range cs {
		n += c.Dropped
	}
	return n
}
