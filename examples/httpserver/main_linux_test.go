package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
)

const labPrefix = "xmhttp"

// newLab builds a lab that is deleted when the test ends.
func newLab(t testing.TB, queues int) *netlab.Lab {
	t.Helper()
	return labtest.NewLab(t, netlab.Config{Queues: queues, Prefix: labPrefix})
}

// startIn starts a server in the lab's receiving namespace, stopped when
// the test ends.
func startIn(t testing.TB, lab *netlab.Lab, o options) *server {
	t.Helper()
	o.Iface = lab.RecvIf
	if !o.Addr.IsValid() {
		o.Addr = netip.AddrPortFrom(lab.RecvAddr, 80)
	}
	return labtest.StartInRecv(t, lab, func() (*server, error) { return start(o) }, (*server).close)
}

// labClient returns an HTTP client whose connections are made in the lab's
// sending namespace (each dial runs on a thread switched into it; the
// socket stays there), and a counter of its dials.
func labClient(lab *netlab.Lab, keepAlive bool) (*http.Client, func() int) {
	var mu sync.Mutex
	dials := 0
	tr := &http.Transport{
		DisableKeepAlives: !keepAlive,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := lab.InSend(func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			if err == nil {
				mu.Lock()
				dials++
				mu.Unlock()
			}
			return c, err
		},
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, func() int {
		mu.Lock()
		defer mu.Unlock()
		return dials
	}
}

// get fetches url and returns the body and the serving member.
func get(t testing.TB, c *http.Client, url string) ([]byte, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return b, resp.Header.Get("X-Member")
}

func patternSum(n int) [32]byte {
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for off := 0; off < n; off += len(buf) {
		k := min(len(buf), n-off)
		for i := range k {
			buf[i] = pattern(off + i)
		}
		h.Write(buf[:k])
	}
	return [32]byte(h.Sum(nil))
}

// exercise runs the checks both variants share: a page, a 10 MB body,
// keep-alive, and connections spread over the members.
func exercise(t *testing.T, lab *netlab.Lab, s *server, members int) {
	exerciseAt(t, lab, s, members, netip.AddrPortFrom(lab.RecvAddr, 80))
}

// exerciseAt is exercise against the server at addr.
func exerciseAt(t *testing.T, lab *netlab.Lab, s *server, members int, addr netip.AddrPort) {
	base := "http://" + addr.String()

	c, dials := labClient(lab, true)
	page, m1 := get(t, c, base+"/")
	if !strings.HasPrefix(string(page), "hello from member "+m1+" ") {
		t.Errorf("GET /: %q from member %q", page, m1)
	}
	const big = 10 << 20
	body, m2 := get(t, c, base+fmt.Sprintf("/bytes?n=%d", big))
	if len(body) != big || sha256.Sum256(body) != patternSum(big) {
		t.Errorf("GET /bytes: %d bytes, checksum mismatch or short (want %d)", len(body), big)
	}
	if n := dials(); n != 1 || m1 != m2 {
		t.Errorf("keep-alive: %d dials, members %q and %q; want 1 dial, one member", n, m1, m2)
	}
	c.CloseIdleConnections()

	// Many connections (new source port each): they spread.
	const conns = 48
	nc, ndials := labClient(lab, false)
	seen := map[string]int{}
	for range conns {
		_, m := get(t, nc, base+"/")
		seen[m]++
	}
	if ndials() != conns {
		t.Errorf("%d dials for %d requests without keep-alive", ndials(), conns)
	}
	if members > 1 && len(seen) < 2 {
		t.Errorf("%d connections all served by members %v; want a spread over %d", conns, seen, members)
	}
	t.Logf("connections per member (X-Member): %v", seen)

	// /stats agrees: every connection counted once, on the member that
	// answered it.
	b, _ := get(t, nc, base+"/stats")
	var st Stats
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("/stats: %v: %s", err, b)
	}
	var total uint64
	for _, m := range st.Members {
		total += m.Conns
	}
	if want := uint64(1 + conns + 1); total != want {
		t.Errorf("/stats: %d connections, want %d: %s", total, want, b)
	}
	t.Logf("/stats: %s", b)
}

// TestServeXDP: HTTP through xdpmux into gVisor stacks, one per member of a
// TCP reuseport group, from Go's client in the sending namespace. The
// stacks send on the queues' AF_XDP TX rings (Endpoint.SendIP, -tx auto)
// or through the AF_PACKET fallback (-tx packet).
func TestServeXDP(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	for _, tc := range []struct{ tx, want string }{
		{txAuto, txXDP},
		{txPacket, txPacket},
	} {
		t.Run("tx "+tc.tx, func(t *testing.T) {
			lab := newLab(t, 2)
			const members = 3
			s := startIn(t, lab, options{Members: members, TX: tc.tx})
			t.Logf("variant: %s", s.variant)
			if !strings.Contains(s.variant, "tx "+tc.want+",") || (s.psend != nil) != (tc.want == txPacket) {
				t.Fatalf("variant %q: want the stacks sending with -tx %s", s.variant, tc.want)
			}
			exercise(t, lab, s, members)
			for _, m := range s.members {
				if st := m.link.Stats(); st.TXNoPeer != 0 || st.RXDropped != 0 || st.TXErrors != 0 {
					t.Errorf("member %d link: %+v", m.id, st)
				}
			}
			var sent, dropped uint64
			for _, q := range s.ifc.TXStats() {
				if q.Supported != (tc.want == txXDP) {
					t.Errorf("queue %d TX: %+v, want Supported %v", q.Queue, q, tc.want == txXDP)
				}
				sent += q.Sent
				dropped += q.Dropped
			}
			switch {
			case tc.want == txXDP && sent < 10<<20/1514:
				t.Errorf("%d frames sent on the TX rings, want at least the 10 MB body's", sent)
			case tc.want == txPacket && sent+dropped != 0:
				t.Errorf("%d frames sent, %d dropped on the TX rings, want none with -tx packet", sent, dropped)
			}
			// A full TX ring drops (TCP retransmits): counted, not a failure.
			t.Logf("TX rings: %+v", s.ifc.TXStats())
			// Nothing unmatched while the members serve. (Once they stop,
			// a late segment can arrive between a member's unbind and the
			// port's unclaim: unmatched by design, docs/SPEC.md section 3.)
			ifc := s.ifc
			tot := ifc.Stats().Totals()
			if tot.RX == 0 || tot.Unmatched != 0 || tot.MalformedTotal() != 0 {
				t.Errorf("dataplane totals: %+v", tot)
			}
			// Every UMEM frame is back once the stacks and endpoints are gone.
			if err := s.stopMembers(); err != nil {
				t.Error(err)
			}
			if err := ifc.CheckFrames(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestServeKernel: the same handler on kernel SO_REUSEPORT listeners.
func TestServeKernel(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	lab := newLab(t, 2)
	const members = 3
	s := startIn(t, lab, options{Members: members, Kernel: true})
	exercise(t, lab, s, members)
}

// gvisorAddr is the address the -gvisor-link variant's stack owns in lab:
// fdbased shares the interface with the kernel, which sees every frame
// and would reset connections to its own address, so the stack gets one
// the kernel does not own (.3 of the lab's /24; the stack answers ARP for
// it); xdp's frames are taken by the XDP program before the kernel sees
// them, so it owns the kernel's address, as the xdpmux stacks do.
func gvisorAddr(lab *netlab.Lab, link string) netip.AddrPort {
	a := lab.RecvAddr
	if link == gvisorFdbased {
		b := a.As4()
		b[3] = 3
		a = netip.AddrFrom4(b)
	}
	return netip.AddrPortFrom(a, 80)
}

// gvisorLabQueues is the number of queues of the lab for a -gvisor-link
// variant: gVisor's xdp endpoint takes queue 0 only.
func gvisorLabQueues(link string) int {
	if link == gvisorXDP {
		return 1
	}
	return 2
}

// TestServeGVisorLinks: the same handler on one gVisor stack on each of
// gVisor's own link endpoints over the lab's veth (the baselines of
// docs/NETSTACK.md): a page, a 10 MB body, keep-alive, 48 connections.
func TestServeGVisorLinks(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	for _, link := range []string{gvisorFdbased, gvisorXDP} {
		t.Run(link, func(t *testing.T) {
			lab := newLab(t, gvisorLabQueues(link))
			addr := gvisorAddr(lab, link)
			s := startIn(t, lab, options{GVisorLink: link, Addr: addr, Members: 1})
			t.Logf("variant: %s", s.variant)
			if want := "gVisor's " + link + " endpoint"; !strings.Contains(s.variant, want) {
				t.Fatalf("variant %q, want %q in it", s.variant, want)
			}
			exerciseAt(t, lab, s, 1, addr)
		})
	}
}
