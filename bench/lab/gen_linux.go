package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/bench/netlab"
	"github.com/xdpmux/xdpmux/bench/txgen"
)

// generator floods the lab's receiver with UDP from cfg.Flows source
// ports (FirstSrcPort, FirstSrcPort+1, ...) to one destination port.
type generator interface {
	// Name describes the generator for the report.
	Name() string
	// Start starts sending, at rate pps in all (0: as fast as possible).
	Start(rate float64) error
	// Stop stops sending; sent is the generator's own count of frames
	// sent since Start, or 0 when it does not know.
	Stop() (sent uint64, err error)
	Close() error
}

// newGenerators returns the saturation generator cfg.Generator names
// ("trafgen", "txgen", or "auto": trafgen when installed, else txgen) and,
// when cfg.FixedRate > 0, the fixed-rate generator: always txgen, whose
// pacer sleeps (trafgen's busy-waits, which would count as CPU per
// packet). With txgen for both, they are one generator.
func newGenerators(l *netlab.Lab, cfg *Config, dir string) (sat, fixed generator, err error) {
	kind := cfg.Generator
	if kind == "" || kind == "auto" {
		kind = "txgen"
		if _, err := exec.LookPath("trafgen"); err == nil {
			kind = "trafgen"
		}
	}
	switch kind {
	case "trafgen":
		if sat, err = newTrafgen(l, cfg, dir); err != nil {
			return nil, nil, err
		}
		if cfg.FixedRate > 0 {
			if fixed, err = newTxgen(l, cfg, cfg.FixedRate); err != nil {
				sat.Close()
				return nil, nil, err
			}
		}
		return sat, fixed, nil
	case "txgen":
		if sat, err = newTxgen(l, cfg, 0); err != nil {
			return nil, nil, err
		}
		return sat, sat, nil
	}
	return nil, nil, fmt.Errorf("generator %q: want auto, trafgen or txgen", cfg.Generator)
}

// trafgen runs netsniff-ng's trafgen in the sending namespace, one process
// per CPU (--cpus).
type trafgen struct {
	lab  *netlab.Lab
	path string
	conf string
	cpus int
	cmd  *exec.Cmd
	done chan error
	out  strings.Builder
}

// FirstSrcPort is the first source port of the benchmark flows (both
// generators use FirstSrcPort .. FirstSrcPort+Flows-1).
const FirstSrcPort = txgen.FirstSrcPort

func newTrafgen(l *netlab.Lab, cfg *Config, dir string) (*trafgen, error) {
	path, err := exec.LookPath("trafgen")
	if err != nil {
		return nil, fmt.Errorf("trafgen: %w", err)
	}
	// Ethernet 14 + IPv4 20 + UDP 8 + payload = cfg.Size bytes.
	conf := fmt.Sprintf(`{
  eth(da=%s, sa=%s),
  ipv4(saddr=%s, daddr=%s, ttl=64),
  udp(sp=dinc(%d, %d), dp=%d),
  fill(0x58, %d)
}
`, l.RecvMAC, l.SendMAC, l.SendAddr, l.RecvAddr, FirstSrcPort, FirstSrcPort+cfg.Flows-1, cfg.Port, cfg.Size-42)
	f := filepath.Join(dir, "udp.cfg")
	if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("trafgen config: %w", err)
	}
	return &trafgen{lab: l, path: path, conf: f, cpus: cfg.GenCPUs}, nil
}

func (g *trafgen) Name() string {
	return fmt.Sprintf("trafgen --cpus %d (PF_PACKET)", g.cpus)
}

func (g *trafgen) Start(rate float64) error {
	args := []string{"netns", "exec", g.lab.SendNS, g.path, "--dev", g.lab.SendIf, "--conf", g.conf,
		"--cpus", fmt.Sprint(g.cpus), "-q"}
	if rate > 0 {
		// trafgen paces by busy waiting, which would be counted as
		// CPU per packet: fixed loads use txgen.
		return fmt.Errorf("trafgen: fixed rate: %w", errors.ErrUnsupported)
	}
	g.out.Reset()
	g.cmd = exec.Command("ip", args...)
	g.cmd.Stdout, g.cmd.Stderr = &g.out, &g.out
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := g.cmd.Start(); err != nil {
		return fmt.Errorf("trafgen: %w", err)
	}
	g.done = make(chan error, 1)
	go func() { g.done <- g.cmd.Wait() }()
	return nil
}

func (g *trafgen) Stop() (uint64, error) {
	if g.cmd == nil {
		return 0, nil
	}
	// An exit before our signal is a failure (bad config, no device).
	pid := g.cmd.Process.Pid
	g.cmd = nil
	select {
	case err := <-g.done:
		return 0, fmt.Errorf("trafgen exited early: %v: %s", err, strings.TrimSpace(g.out.String()))
	default:
	}
	// trafgen forks one process per CPU: signal its process group. Its
	// exit status after SIGINT is not meaningful (with a full TX ring it
	// reports "Flushing TX_RING failed" and exits 1).
	_ = syscall.Kill(-pid, syscall.SIGINT)
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-g.done
	}
	return 0, nil
}

func (g *trafgen) Close() error {
	_, err := g.Stop()
	return err
}

// txgenGen runs bench/txgen from the sending namespace. The rate is part
// of txgen's Config, so a new rate means a new Generator.
type txgenGen struct {
	lab    *netlab.Lab
	cfg    *Config
	gen    *txgen.Generator
	rate   float64
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  txgen.Stats
	err    error
}

func newTxgen(l *netlab.Lab, cfg *Config, rate float64) (*txgenGen, error) {
	g := &txgenGen{lab: l, cfg: cfg}
	if err := g.open(rate); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *txgenGen) open(rate float64) error {
	if g.gen != nil {
		if err := g.gen.Close(); err != nil {
			return fmt.Errorf("txgen: %w", err)
		}
		g.gen = nil
	}
	err := g.lab.InSend(func() error {
		var err error
		g.gen, err = txgen.New(txgen.Config{
			Ifname:  g.lab.SendIf,
			DstMAC:  g.lab.RecvMAC,
			Dst:     netip.AddrPortFrom(g.lab.RecvAddr, g.cfg.Port),
			Flows:   g.cfg.Flows,
			Size:    g.cfg.Size,
			Rate:    rate,
			Backend: g.cfg.txgenBackend,
			Logf:    g.cfg.logf,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("txgen: %w", err)
	}
	g.rate = rate
	return nil
}

func (g *txgenGen) Name() string {
	return fmt.Sprintf("bench/txgen (%s, %d senders)", g.gen.Backend(), g.gen.Senders())
}

func (g *txgenGen) Start(rate float64) error {
	if rate != g.rate {
		if err := g.open(rate); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.stats, g.err = g.gen.Run(ctx, nil)
	}()
	return nil
}

func (g *txgenGen) Stop() (uint64, error) {
	if g.cancel == nil {
		return 0, nil
	}
	g.cancel()
	g.wg.Wait()
	g.cancel = nil
	return g.stats.Sent, g.err
}

func (g *txgenGen) Close() error {
	_, err := g.Stop()
	if g.gen == nil {
		return err
	}
	return errors.Join(err, g.gen.Close())
}
