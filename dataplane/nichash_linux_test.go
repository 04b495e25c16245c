//go:build linux

package dataplane

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/netlab/labtest"
	"github.com/xdpmux/xdpmux/bench/txgen"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

// TestInterfaceNICHash runs Config.Hash "nic" on veth. Native, the
// xdpmux_nichash program is attached and veth's xmo_rx_hash gives every
// frame the skb's hash: every frame is hashed by the "NIC", one value per
// flow, and every frame is delivered once. Generic, the device-bound
// program cannot run: the plain one is attached, the mode falls back to
// toeplitz with a note, and every frame is hashed in software.
func TestInterfaceNICHash(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	const (
		count   = 400
		members = 4
		port    = 5300
	)
	srcPorts := []uint16{41000, 41001, 41002, 41003, 41004, 41005, 41006, 41007}
	for _, tt := range []struct {
		name     string
		xdp      xdpprog.Options
		mode     string
		note     string
		fromNIC  bool
		xdpModeW string
	}{
		{"native", xdpprog.Options{}, HashNIC, "driver's hash", true, "native"},
		{"generic", xdpprog.Options{ForceGeneric: true}, HashToeplitz, "generic mode", false, "generic"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: ifaceLabPrefix})
			ifc := openLabInterface(t, lab, InterfaceConfig{XDP: tt.xdp, Config: Config{Hash: HashNIC}})
			in := ifc.Info()
			if in.HashMode != tt.mode || !strings.Contains(in.HashNote, tt.note) || in.XDPMode != tt.xdpModeW {
				t.Fatalf("info: xdp %q, hash mode %q, note %q; want %q, %q, a note with %q", in.XDPMode, in.HashMode, in.HashNote, tt.xdpModeW, tt.mode, tt.note)
			}
			if ifc.HashMode() != tt.mode {
				t.Errorf("HashMode() = %q, want %q", ifc.HashMode(), tt.mode)
			}
			// veth has no RSS: said so, and the default key is kept.
			if in.RSS == nil || in.RSS.Available || !strings.Contains(in.RSS.Note, "no RSS") || in.RSS.NICKey {
				t.Errorf("info.RSS = %+v, want no RSS with a note", in.RSS)
			}
			var eps []*Endpoint
			for range members {
				ep, err := ifc.Bind(udpSpec(netip.AddrPortFrom(lab.RecvAddr, port).String(), true), EndpointOptions{})
				if err != nil {
					t.Fatal(err)
				}
				eps = append(eps, ep)
			}
			type seen struct {
				hash  uint32
				count int
			}
			got := make(chan map[uint16]*seen, members)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for _, ep := range eps {
				go func() {
					m := map[uint16]*seen{}
					batch := make([]Frame, rxq.BatchSize)
					for {
						n, err := ep.Receive(ctx, batch)
						if err != nil {
							got <- m
							return
						}
						for i := range batch[:n] {
							f := &batch[i]
							s := m[f.Src.Port()]
							if s == nil {
								s = &seen{hash: f.Hash}
								m[f.Src.Port()] = s
							}
							if s.hash != f.Hash {
								t.Errorf("flow from port %d: hash %#x, then %#x", f.Src.Port(), s.hash, f.Hash)
							}
							s.count++
						}
						ep.Release(batch[:n])
					}
				}()
			}
			payload := func(i int) []byte { return []byte("nichash") }
			if err := netlab.SendUDP(lab, netip.AddrPortFrom(lab.RecvAddr, port), srcPorts, payload, count); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for ifc.Stats().Totals().Delivered < count && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			cancel()
			total := 0
			flows := map[uint16]int{} // flow -> members it was seen on
			hashes := map[uint32]bool{}
			for range members {
				for p, s := range <-got {
					total += s.count
					flows[p]++
					hashes[s.hash] = true
				}
			}
			t.Logf("%d flows, %d distinct hashes", len(flows), len(hashes))
			if total != count {
				t.Errorf("received %d datagrams, want %d", total, count)
			}
			for p, n := range flows {
				if n != 1 {
					t.Errorf("flow from port %d reached %d members, want 1", p, n)
				}
			}
			tot := ifc.Stats().Totals()
			wantNIC, wantSW := uint64(0), uint64(count)
			if tt.fromNIC {
				wantNIC, wantSW = count, 0
			}
			if tot.Delivered != count || tot.HashNIC != wantNIC || tot.HashSoftware != wantSW {
				t.Errorf("totals: delivered %d, hash nic %d, software %d; want %d, %d, %d",
					tot.Delivered, tot.HashNIC, tot.HashSoftware, count, wantNIC, wantSW)
			}
			if err := ifc.CheckFrames(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestInterfaceNICHashGenerated: frames from the lab's generator (AF_XDP
// and AF_PACKET on the sender) under "nic" on veth. Every frame is counted
// nic and delivered once; AF_PACKET flows keep one hash each. The test
// logs how many distinct hashes veth gave the generator's flows: for
// AF_XDP TX frames the skb hash is not a flow hash (docs/HASH.md).
func TestInterfaceNICHashGenerated(t *testing.T) {
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF")
	const (
		count = 2000
		flows = 64
		port  = 4242
	)
	for _, b := range []txgen.Backend{txgen.AFXDP, txgen.AFPacket} {
		t.Run(b.String(), func(t *testing.T) {
			lab := labtest.NewLab(t, netlab.Config{Queues: 2, Prefix: ifaceLabPrefix})
			ifc := openLabInterface(t, lab, InterfaceConfig{Config: Config{Hash: HashNIC}})
			if ifc.HashMode() != HashNIC {
				t.Fatalf("hash mode %q (%s)", ifc.HashMode(), ifc.Info().HashNote)
			}
			ep, err := ifc.Bind(udpSpec(netip.AddrPortFrom(lab.RecvAddr, port).String(), false), EndpointOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var g *txgen.Generator
			if err := lab.InSend(func() (err error) {
				g, err = txgen.New(txgen.Config{Backend: b, Ifname: lab.SendIf, Dst: netip.AddrPortFrom(lab.RecvAddr, port),
					Count: count, Rate: 20000, Flows: flows, Logf: t.Logf})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if _, err := g.Run(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(5 * time.Second); ifc.Stats().Totals().RX < count && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			batch := make([]Frame, rxq.BatchSize)
			hashes := map[uint32]bool{}
			perFlow := map[uint16]uint32{}
			// AF_XDP TX frames carry a hash veth does not derive from
			// the flow: it is not checked per flow, only counted.
			unstable := map[uint16]bool{}
			got := 0
			for uint64(got) < ifc.Stats().Totals().Delivered {
				n, err := ep.Receive(ctx, batch)
				if err != nil {
					break
				}
				for i := range batch[:n] {
					f := &batch[i]
					hashes[f.Hash] = true
					if h, ok := perFlow[f.Src.Port()]; ok && h != f.Hash {
						if b == txgen.AFPacket {
							t.Errorf("flow %d: hash %#x then %#x", f.Src.Port(), h, f.Hash)
						}
						unstable[f.Src.Port()] = true
					}
					perFlow[f.Src.Port()] = f.Hash
				}
				got += n
				ep.Release(batch[:n])
			}
			tot := ifc.Stats().Totals()
			t.Logf("%s: %d frames, %d flows, %d distinct NIC hashes, %d flows whose hash changed; hash nic %d, software %d",
				b, got, len(perFlow), len(hashes), len(unstable), tot.HashNIC, tot.HashSoftware)
			// A slow reader may lose frames to a full ring: those were
			// hashed all the same.
			if uint64(got) != tot.Delivered || tot.Delivered+tot.RingFull+tot.OverBudget != count ||
				tot.HashNIC != count || tot.HashSoftware != 0 {
				t.Errorf("received %d, totals %+v; want every one of %d frames hashed nic, each delivered or dropped once", got, tot, count)
			}
		})
	}
}
