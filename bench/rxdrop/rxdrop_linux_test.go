package rxdrop_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/netlab"
	"github.com/xdpmux/xdpmux/rxq/netlab/labtest"
	"github.com/xdpmux/xdpmux/rxq/xdpprog"
)

const port = 9 // discard

type phase struct {
	Mode    string  `json:"mode"` // "xdp_drop" or "afxdp_rxdrop"
	Round   int     `json:"round"`
	Seconds float64 `json:"seconds"`
	Packets uint64  `json:"packets"` // dropped by the program, or received by the sockets
	PPS     float64 `json:"pps"`
	// OfferedPPS is every frame the XDP program saw (redirected, passed,
	// dropped): the generator's delivered rate.
	OfferedPPS float64 `json:"offered_pps"`
	// rxdrop only: per-queue packets and XDP_STATISTICS deltas.
	PerQueue []uint64    `json:"per_queue,omitempty"`
	Stats    []rxq.Stats `json:"xdp_statistics,omitempty"`
}

type result struct {
	Date         string  `json:"date"`
	Kernel       string  `json:"kernel"`
	CPUs         int     `json:"cpus"`
	Queues       int     `json:"queues"`
	Generator    string  `json:"generator"`
	SocketMode   string  `json:"socket_mode"`
	BusyPoll     bool    `json:"busy_poll"`
	NumFrames    int     `json:"num_frames_per_socket"`
	FrameSize    int     `json:"frame_size"`
	FillRing     int     `json:"fill_ring"`
	RXRing       int     `json:"rx_ring"`
	Phases       []phase `json:"phases"`
	XDPDropPPS   float64 `json:"xdp_drop_pps"`     // mean over rounds
	RxdropPPS    float64 `json:"afxdp_rxdrop_pps"` // mean over rounds
	Ratio        float64 `json:"ratio"`            // rxdrop / XDP_DROP
	RingFull     uint64  `json:"rx_ring_full"`
	FillEmpty    uint64  `json:"rx_fill_ring_empty_descs"`
	RxDropped    uint64  `json:"rx_dropped"`
	FramesIntact bool    `json:"frames_accounted"`
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestRxdrop runs the benchmark (XDPMUX_BENCH=1, root). Knobs:
// XDPMUX_BENCH_SECONDS (per phase, default 3), XDPMUX_BENCH_ROUNDS
// (default 2), XDPMUX_BENCH_BUSYPOLL=1.
func TestRxdrop(t *testing.T) {
	if os.Getenv("XDPMUX_BENCH") != "1" {
		t.Skip("benchmark: set XDPMUX_BENCH=1 to run")
	}
	labtest.RequirePrivileged(t, "CAP_NET_ADMIN, CAP_BPF")
	trafgen, err := exec.LookPath("trafgen")
	if err != nil {
		t.Skip("trafgen (netsniff-ng) not installed")
	}
	secs := envInt("XDPMUX_BENCH_SECONDS", 3)
	rounds := envInt("XDPMUX_BENCH_ROUNDS", 2)
	busy := os.Getenv("XDPMUX_BENCH_BUSYPOLL") == "1"
	const queues = 2

	lab := labtest.NewLab(t, netlab.Config{Queues: queues})

	opts := rxq.DefaultSocketOptions()
	opts.BusyPoll = busy
	// Deep rings absorb the receiver being descheduled on a busy machine.
	// 16384 frames of 2 KiB (32 MiB) per socket, all of them on the fill
	// ring: ~30 ms of traffic at 0.5 Mpps per queue.
	opts.FrameSize = 2048
	opts.NumFrames, opts.FillRingSize, opts.RXRingSize = 16384, 16384, 8192
	var prog *xdpprog.Program
	socks := make([]*rxq.Socket, queues)
	t.Cleanup(func() {
		for _, s := range socks {
			if s != nil {
				s.Close()
			}
		}
		if prog != nil {
			prog.Close()
		}
	})
	if err := lab.InRecv(func() error {
		var err error
		if prog, err = xdpprog.Attach(lab.RecvIndex, xdpprog.Options{}); err != nil {
			return err
		}
		if err := prog.Claim(xdpprog.ProtoUDP, port); err != nil {
			return err
		}
		for q := range socks {
			if socks[q], err = rxq.OpenQueue(lab.RecvIf, q, &opts); err != nil {
				return err
			}
			if err := prog.Register(q, socks[q].FD()); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("setup: %v", err)
	}
	t.Logf("program %v, sockets %v %v", prog.Mode(), socks[0], socks[1])

	// Receivers: one goroutine per socket, running the whole time.
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		count = make([]atomic.Uint64, queues)
		sink  = make([]uint64, queues*8) // spaced out: no false sharing
	)
	for q, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			descs := make([]rxq.Desc, rxq.BatchSize)
			addrs := make([]uint64, rxq.BatchSize)
			umem := s.UMEM()
			var acc uint64
			for !stop.Load() {
				n := s.Receive(descs)
				if n == 0 {
					if err := s.Wait(100 * time.Millisecond); err != nil {
						return
					}
					continue
				}
				for i, d := range descs[:n] {
					// Touch the frame: destination MAC and ethertype.
					acc += uint64(umem[d.Addr]) + uint64(umem[d.Addr+12])
					addrs[i] = d.Addr
				}
				s.Recycle(addrs[:n])
				count[q].Add(uint64(n))
			}
			sink[q*8] = acc
		}()
	}
	stopReceivers := sync.OnceFunc(func() {
		stop.Store(true)
		for _, s := range socks {
			s.Wake()
		}
		wg.Wait()
	})
	t.Cleanup(stopReceivers)

	// Generator: trafgen on both CPUs of the sending namespace, UDP to the
	// claimed port from changing source ports (spread over both queues).
	conf := filepath.Join(t.TempDir(), "udp.cfg")
	cfg := fmt.Sprintf(`{
  eth(da=%s, sa=%s),
  ipv4(saddr=%s, daddr=%s, ttl=64),
  udp(sp=dinc(1024, 60000), dp=%d),
  fill(0x58, 18)
}
`, lab.RecvMAC, lab.SendMAC, lab.SendAddr, lab.RecvAddr, port)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	gen := exec.Command("ip", "netns", "exec", lab.SendNS, trafgen,
		"--dev", lab.SendIf, "--conf", conf, "--cpus", "2", "-q")
	var genOut strings.Builder
	gen.Stdout, gen.Stderr = &genOut, &genOut
	gen.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := gen.Start(); err != nil {
		t.Fatalf("trafgen: %v", err)
	}
	genDone := make(chan error, 1)
	go func() { genDone <- gen.Wait() }()
	stopGen := sync.OnceFunc(func() {
		// trafgen forks one process per CPU: signal its process group.
		syscall.Kill(-gen.Process.Pid, syscall.SIGINT)
		select {
		case <-genDone:
		case <-time.After(5 * time.Second):
			syscall.Kill(-gen.Process.Pid, syscall.SIGKILL)
			<-genDone
		}
	})
	t.Cleanup(stopGen)

	// dropped returns the program's drop count and all frames it saw.
	dropped := func() (drops, seen uint64) {
		cs, err := prog.Counters()
		if err != nil {
			t.Fatalf("Counters: %v", err)
		}
		for _, c := range cs {
			drops += c.Dropped
			seen += c.Dropped + c.Redirected + c.Passed
		}
		return drops, seen
	}
	received := func() (total uint64, per []uint64) {
		for q := range count {
			v := count[q].Load()
			per = append(per, v)
			total += v
		}
		return total, per
	}
	stats := func() []rxq.Stats {
		var out []rxq.Stats
		for _, s := range socks {
			st, err := s.Stats()
			if err != nil {
				t.Fatalf("Stats: %v", err)
			}
			out = append(out, st)
		}
		return out
	}
	warm := time.Second
	window := time.Duration(secs) * time.Second
	res := result{
		Date: time.Now().UTC().Format(time.RFC3339), Kernel: kernel(), CPUs: runtime.NumCPU(),
		Queues: queues, Generator: "trafgen --cpus 2 (PF_PACKET), 60-byte UDP frames",
		SocketMode: socks[0].Mode().String(), BusyPoll: busy, NumFrames: opts.NumFrames, FrameSize: opts.FrameSize,
		FillRing: opts.FillRingSize, RXRing: opts.RXRingSize,
	}
	var dropSum, rxSum float64
	for r := range rounds {
		// XDP_DROP in the program.
		if err := prog.SetDropClaimed(true); err != nil {
			t.Fatalf("SetDropClaimed: %v", err)
		}
		time.Sleep(warm)
		d0, o0 := dropped()
		t0 := time.Now()
		time.Sleep(window)
		d1, o1 := dropped()
		el := time.Since(t0).Seconds()
		p := phase{Mode: "xdp_drop", Round: r, Seconds: el, Packets: d1 - d0, PPS: float64(d1-d0) / el,
			OfferedPPS: float64(o1-o0) / el}
		res.Phases = append(res.Phases, p)
		dropSum += p.PPS
		t.Logf("round %d XDP_DROP:     %.3f Mpps (offered %.3f)", r, p.PPS/1e6, p.OfferedPPS/1e6)

		// AF_XDP rxdrop.
		if err := prog.SetDropClaimed(false); err != nil {
			t.Fatalf("SetDropClaimed: %v", err)
		}
		time.Sleep(warm)
		s0 := stats()
		c0, per0 := received()
		_, o0 = dropped()
		t0 = time.Now()
		time.Sleep(window)
		c1, per1 := received()
		_, o1 = dropped()
		el = time.Since(t0).Seconds()
		s1 := stats()
		p = phase{Mode: "afxdp_rxdrop", Round: r, Seconds: el, Packets: c1 - c0, PPS: float64(c1-c0) / el,
			OfferedPPS: float64(o1-o0) / el}
		for q := range socks {
			p.PerQueue = append(p.PerQueue, per1[q]-per0[q])
			d := rxq.Stats{
				RxDropped:            s1[q].RxDropped - s0[q].RxDropped,
				RxInvalidDescs:       s1[q].RxInvalidDescs - s0[q].RxInvalidDescs,
				TxInvalidDescs:       s1[q].TxInvalidDescs - s0[q].TxInvalidDescs,
				RxRingFull:           s1[q].RxRingFull - s0[q].RxRingFull,
				RxFillRingEmptyDescs: s1[q].RxFillRingEmptyDescs - s0[q].RxFillRingEmptyDescs,
				TxRingEmptyDescs:     s1[q].TxRingEmptyDescs - s0[q].TxRingEmptyDescs,
			}
			p.Stats = append(p.Stats, d)
			res.RingFull += d.RxRingFull
			res.FillEmpty += d.RxFillRingEmptyDescs
			res.RxDropped += d.RxDropped
		}
		res.Phases = append(res.Phases, p)
		rxSum += p.PPS
		t.Logf("round %d AF_XDP rxdrop: %.3f Mpps (offered %.3f) per queue %v, stats %+v", r, p.PPS/1e6, p.OfferedPPS/1e6, p.PerQueue, p.Stats)
	}
	stopGen()
	// Let the last frames land, then check the accounting.
	time.Sleep(200 * time.Millisecond)
	stopReceivers()
	res.FramesIntact = true
	for q, s := range socks {
		fs := s.FrameStats()
		if fs.Fill+fs.RX+fs.Free != fs.Total {
			res.FramesIntact = false
			t.Errorf("queue %d: FrameStats %+v do not add up", q, fs)
		}
	}
	res.XDPDropPPS = dropSum / float64(rounds)
	res.RxdropPPS = rxSum / float64(rounds)
	if res.XDPDropPPS > 0 {
		res.Ratio = res.RxdropPPS / res.XDPDropPPS
	}
	t.Logf("XDP_DROP %.3f Mpps, AF_XDP rxdrop %.3f Mpps, ratio %.2f (target >= 0.9); ring full %d, fill empty %d, rx_dropped %d",
		res.XDPDropPPS/1e6, res.RxdropPPS/1e6, res.Ratio, res.RingFull, res.FillEmpty, res.RxDropped)
	if res.XDPDropPPS == 0 {
		t.Errorf("no traffic: trafgen output:\n%s", genOut.String())
	}

	b, _ := json.MarshalIndent(res, "", "  ")
	out := filepath.Join("..", "results", "rxdrop-latest.json")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", out)
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
