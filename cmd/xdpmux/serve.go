package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/ctl"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

// instance is one running `xdpmux run`.
type instance struct {
	cfg    runConfig
	log    *slog.Logger
	stdout io.Writer

	ifc     *dataplane.Interface
	info    dataplane.InterfaceInfo
	srv     *ctl.Server
	ctlL    *net.UnixListener // nil without -ctl, or once handed over
	tkL     *net.UnixListener // the takeover socket
	metL    net.Listener
	httpSrv *http.Server

	sinks    []*runSink
	sinkWG   sync.WaitGroup
	stopSink context.CancelFunc
	serveWG  sync.WaitGroup

	handedOver chan struct{} // closed when a new instance took over
}

// interfaceConfig is the InterfaceConfig of cfg.
func (cfg *runConfig) interfaceConfig() dataplane.InterfaceConfig {
	ic := dataplane.InterfaceConfig{
		Ifname: cfg.iface,
		Queues: cfg.queues,
		Config: dataplane.Config{
			Table:         pcb.Config{Policy: cfg.policy, DualStackGroups: cfg.dualGroups},
			Access:        dataplane.AccessPolicy{Allow: cfg.allow},
			AllowNonlocal: cfg.nonlocal,
			BoundedLoad:   dataplane.BoundedLoad{Fill: cfg.boundedFill},
			Hash:          cfg.hash,
		},
	}
	if cfg.frames > 0 {
		ic.Socket = rxq.DefaultSocketOptions()
		ic.Socket.NumFrames = cfg.frames
		ic.Socket.FillRingSize = cfg.frames
		ic.Socket.RXRingSize = cfg.frames / 2
	}
	return ic
}

// runServe runs one instance until ctx is done, or until another instance
// takes over from it.
func runServe(ctx context.Context, cfg runConfig, log *slog.Logger, stdout io.Writer, ready func(runReady)) (err error) {
	in := &instance{cfg: cfg, log: log, stdout: stdout, handedOver: make(chan struct{})}
	var tin *takeoverIn
	if cfg.takeover {
		if tin, err = in.adopt(); err != nil {
			return err
		}
	} else {
		if in.ifc, err = dataplane.OpenInterface(cfg.interfaceConfig()); err != nil {
			return err
		}
	}
	in.info = in.ifc.Info()
	log.Info("attached", "iface", in.info.Ifname, "ifindex", in.info.Ifindex, "queues", fmt.Sprint(in.info.Queues),
		"rx_queues", in.info.RxQueues, "xdp_mode", in.info.XDPMode, "xsk_mode", in.info.SocketMode,
		"policy", cfg.policy.String(), "takeover", cfg.takeover)
	sinkCtx, stopSinks := context.WithCancel(context.Background())
	in.stopSink = stopSinks
	defer func() { err = errors.Join(err, in.teardown()) }()
	defer func() {
		if err != nil && tin != nil {
			// Failed before serving: let go of the adopted interface
			// without undoing anything, and let the old instance resume.
			in.ifc.Abandon()
			tin.fail(err)
		}
	}()

	if err := in.bindSinks(sinkCtx); err != nil {
		return err
	}
	in.srv = ctl.NewServer(in.ifc.Dataplane, in.infoFunc)
	in.srv.Logger = log
	rd := runReady{CtlPath: cfg.ctlPath, Info: in.info}
	if tin != nil {
		for _, err := range in.srv.Park(tin.msg.Endpoints, 0) {
			log.Warn("takeover: endpoint not carried over", "err", err)
		}
		log.Info("takeover: parked client endpoints", "parked", in.srv.Parked(), "of", len(tin.msg.Endpoints))
		// From here on this instance serves: the old one stops for good
		// once it reads the commit.
		if err := tin.commit(); err != nil {
			return err
		}
		in.ctlL, in.tkL, in.metL = tin.ctlL, tin.tkL, tin.metL
		tin = nil
		if err := in.ifc.StartAdopted(); err != nil {
			log.Warn("takeover: start", "err", err)
		}
		log.Info("takeover: serving; the old instance exits")
	}
	if cfg.metrics != "" {
		if in.metL != nil && !sameListenPort(in.metL.Addr().String(), cfg.metrics) {
			in.metL.Close() // the old instance's, on another address
			in.metL = nil
		}
		if in.metL == nil {
			if in.metL, err = net.Listen("tcp", cfg.metrics); err != nil {
				return fmt.Errorf("-metrics %s: %w", cfg.metrics, err)
			}
		}
		in.httpSrv = newMetricsServer(in.ifc.Dataplane, in.info, in.ifc.XDPStats, log)
	} else if in.metL != nil {
		in.metL.Close()
		in.metL = nil
	}
	if cfg.ctlPath != "" && in.ctlL == nil {
		if in.ctlL, err = ctl.ListenUnix(cfg.ctlPath); err != nil {
			return err
		}
		if in.tkL, err = listenTakeover(cfg.ctlPath); err != nil {
			return err
		}
	}
	if in.httpSrv != nil {
		l := in.metL
		go in.httpSrv.Serve(l)
		rd.MetricsAddr = l.Addr().String()
		log.Info("metrics", "addr", "http://"+rd.MetricsAddr+"/metrics")
	}
	if in.ctlL != nil {
		in.serveCtl(in.ctlL)
		log.Info("control socket", "path", cfg.ctlPath)
	}
	if in.tkL != nil {
		in.serveWG.Go(in.serveTakeovers)
	}
	if ready != nil {
		ready(rd)
	}
	sdNotify(fmt.Sprintf("READY=1\nMAINPID=%d", os.Getpid()))

	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(usr2)
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down", "cause", context.Cause(ctx))
			return nil
		case <-in.handedOver:
			log.Info("handed over: exiting")
			return nil
		case <-usr2:
			in.spawnTakeover()
		}
	}
}

// sameListenPort reports whether two HOST:PORT listen addresses are the
// same once resolved loosely (the listener reports its bound address).
func sameListenPort(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	return err1 == nil && err2 == nil && ap == bp && (ah == bh || bh == "0.0.0.0" || bh == "::" || bp == "0")
}

// serveCtl serves the control socket on l.
func (in *instance) serveCtl(l *net.UnixListener) {
	in.serveWG.Go(func() {
		if err := in.srv.Serve(l); !errors.Is(err, ctl.ErrServerClosed) {
			in.log.Error("control socket", "err", err)
		}
	})
}

func (in *instance) bindSinks(ctx context.Context) error {
	owner := pcb.UIDOwner(uint32(os.Getuid()))
	next := map[string]int{}
	for _, b := range in.cfg.binds {
		for _, spec := range b.specs(owner, next, in.ifc.Queues()) {
			ep, err := in.ifc.Bind(spec, dataplane.EndpointOptions{})
			if err != nil {
				return fmt.Errorf("BIND %s: %w", b, err)
			}
			s := &runSink{ep: ep}
			in.sinks = append(in.sinks, s)
			in.sinkWG.Go(func() { s.run(ctx) })
			in.log.Info("sink bound", "endpoint", ep.Name(), "reuseport", spec.ReusePort)
		}
	}
	return nil
}

func (in *instance) infoFunc() any {
	ri := runInfo{PID: os.Getpid(), Interface: in.info}
	xs, err := in.ifc.XDPStats()
	if err != nil {
		ri.XDPError = err.Error()
	}
	ri.XDP = xs
	for _, s := range in.sinks {
		ri.Sinks = append(ri.Sinks, sinkInfo{Name: s.ep.Name(), Packets: s.packets.Load(), Bytes: s.bytes.Load()})
	}
	return ri
}

// teardown undoes runServe's setup, in reverse order. After a hand-over
// nothing the new instance serves is touched.
func (in *instance) teardown() error {
	var errs []error
	handed := false
	select {
	case <-in.handedOver:
		handed = true
	default:
	}
	if in.tkL != nil {
		in.tkL.SetUnlinkOnClose(!handed)
		in.tkL.Close()
	}
	if in.srv != nil {
		in.srv.Close() // after a hand-over: done already
		in.serveWG.Wait()
	}
	if in.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		in.httpSrv.Shutdown(sctx)
		cancel()
	} else if in.metL != nil {
		in.metL.Close()
	}
	for _, s := range in.sinks {
		s.ep.Close()
	}
	if in.stopSink != nil {
		in.stopSink()
	}
	in.sinkWG.Wait()
	if in.ifc != nil {
		if err := in.ifc.Close(); err != nil { // detaches XDP, unclaims ports; nothing after Abandon
			errs = append(errs, err)
		}
	}
	if in.cfg.sink {
		for _, s := range in.sinks {
			fmt.Fprintf(in.stdout, "sink %s packets %d bytes %d\n", s.ep.Name(), s.packets.Load(), s.bytes.Load())
		}
	}
	if handed {
		in.log.Info("handed over", "iface", in.info.Ifname)
	} else {
		in.log.Info("detached", "iface", in.info.Ifname)
	}
	return errors.Join(errs...)
}

// spawnTakeover starts this binary with -takeover and the same arguments
// (kill -USR2): the child takes over, or fails and this instance goes on.
func (in *instance) spawnTakeover() {
	if in.cfg.ctlPath == "" {
		in.log.Warn("SIGUSR2: no control socket, no takeover")
		return
	}
	exe := selfExe
	args := []string{"run", "-takeover"}
	for _, a := range in.cfg.args {
		if a != "-takeover" && a != "--takeover" {
			args = append(args, a)
		}
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		in.log.Error("SIGUSR2: start takeover", "exe", exe, "err", err)
		return
	}
	in.log.Info("SIGUSR2: started a new instance to take over", "exe", exe, "pid", cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		in.log.Warn("takeover instance exited", "pid", cmd.Process.Pid, "err", err)
	}()
}

// selfExe is this binary's path, read at start: after an upgrade replaced
// the file, it names the new binary.
var selfExe = func() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return os.Args[0]
}()

// serveTakeovers answers takeover requests on the takeover socket, one at
// a time, until one succeeds or the socket is closed.
func (in *instance) serveTakeovers() {
	for {
		c, err := in.tkL.AcceptUnix()
		if err != nil {
			return
		}
		err = in.handOver(c)
		c.Close()
		if err == nil {
			return
		}
		in.log.Warn("takeover failed: serving on", "err", err)
	}
}

// handOver runs the old side of the protocol on c. On success the
// interface is abandoned, the clients are disconnected and handedOver is
// closed; on error this instance serves as before.
func (in *instance) handOver(c *net.UnixConn) (err error) {
	if err := peerAllowed(c); err != nil {
		writeMsg(c, &takeoverMsg{Op: "fail", Error: err.Error()}, nil)
		return err
	}
	req, fds, err := readMsg(c, 0)
	if err != nil {
		return err
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	if req.Op != "takeover" || req.Version != takeoverVersion {
		writeMsg(c, &takeoverMsg{Op: "fail", Error: fmt.Sprintf("want takeover version %d", takeoverVersion)}, nil)
		return fmt.Errorf("takeover: bad request %q version %d", req.Op, req.Version)
	}
	start := time.Now()
	in.log.Info("takeover requested", "pid", req.PID)
	var own []int // duplicates this side made, closed at the end
	defer func() {
		for _, fd := range own {
			unix.Close(fd)
		}
	}()
	msg := &takeoverMsg{Op: "state", Version: takeoverVersion, PID: os.Getpid(), CtlFD: -1, TakeoverFD: -1, MetricsFD: -1}
	var extra []int
	ctlFD := -1
	if in.ctlL != nil {
		if ctlFD, err = dupListenerFD(in.ctlL); err != nil {
			return err
		}
		own = append(own, ctlFD)
		msg.CtlFD = len(extra)
		extra = append(extra, ctlFD)
	}
	tkFD, err := dupListenerFD(in.tkL)
	if err != nil {
		return err
	}
	own = append(own, tkFD)
	msg.TakeoverFD = len(extra)
	extra = append(extra, tkFD)
	if tl, ok := in.metL.(*net.TCPListener); ok {
		if fd, err := dupListenerFD(tl); err == nil {
			own = append(own, fd)
			msg.MetricsFD = len(extra)
			extra = append(extra, fd)
		}
	}
	// Stop accepting: connections wait in the socket's backlog for the
	// new instance (or for this one, if it resumes).
	if in.ctlL != nil {
		in.ctlL.SetUnlinkOnClose(false)
		in.srv.StopAccepting()
		in.ctlL = nil
	}
	resumeCtl := func() {
		if ctlFD < 0 {
			return
		}
		in.srv.ResumeAccepting()
		fd, derr := unix.FcntlInt(uintptr(ctlFD), unix.F_DUPFD_CLOEXEC, 0)
		if derr != nil {
			in.log.Error("takeover: resume control socket", "err", derr)
			return
		}
		l, lerr := fileListener(fd, "ctl")
		if lerr != nil {
			in.log.Error("takeover: resume control socket", "err", lerr)
			return
		}
		ul := l.(*net.UnixListener)
		ul.SetUnlinkOnClose(true)
		in.ctlL = ul
		in.serveCtl(ul)
	}
	h, ifds, withdrawn, err := in.ifc.Handover(takeoverDrain)
	if err != nil {
		resumeCtl()
		writeMsg(c, &takeoverMsg{Op: "fail", Error: err.Error()}, nil)
		return err
	}
	msg.Interface = &h
	msg.Endpoints = in.srv.HandoverEndpoints()
	msg.Withdrawn = withdrawn
	all := slices.Concat(ifds, extra)
	msg.NumFDs = len(all)
	paused := time.Now()
	err = writeMsg(c, msg, all)
	var reply *takeoverMsg
	if err == nil {
		var rfds []int
		reply, rfds, err = readMsg(c, 0)
		for _, fd := range rfds {
			unix.Close(fd)
		}
	}
	if err == nil && reply.Op != "commit" {
		err = fmt.Errorf("%w: %s", errTakeoverRefused, reply.Error)
		if reply.Op == "fail" {
			err = fmt.Errorf("the new instance failed: %s", reply.Error)
		}
	}
	if err != nil {
		if rerr := in.ifc.ResumeServing(); rerr != nil {
			in.log.Error("takeover: resume", "err", rerr)
		}
		resumeCtl()
		return err
	}
	// The new instance serves: let go of everything without undoing it.
	if err := in.ifc.Abandon(); err != nil {
		in.log.Warn("takeover: abandon", "err", err)
	}
	in.log.Info("takeover: handed over", "to_pid", req.PID, "clients", len(msg.Endpoints),
		"withdrawn", withdrawn, "drain", paused.Sub(start).String(), "paused", time.Since(start).String())
	in.srv.CloseHandover()
	if in.httpSrv != nil {
		in.httpSrv.Close()
		in.httpSrv = nil
		in.metL = nil
	}
	close(in.handedOver)
	return nil
}

// takeoverIn is the new side's connection to the old instance.
type takeoverIn struct {
	c         *net.UnixConn
	msg       *takeoverMsg
	ctlL, tkL *net.UnixListener
	metL      net.Listener
	done      bool
	log       *slog.Logger
	received  time.Time
}

// adopt runs the new side up to the adoption: it asks the instance on
// cfg.ctlPath to hand over and adopts its interface.
func (in *instance) adopt() (_ *takeoverIn, err error) {
	path := takeoverPath(in.cfg.ctlPath)
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("-takeover: no instance to take over from on %s: %w", path, err)
	}
	t := &takeoverIn{c: c, log: in.log}
	defer func() {
		if err != nil {
			t.fail(err)
		}
	}()
	if err := writeMsg(c, &takeoverMsg{Op: "takeover", Version: takeoverVersion, PID: os.Getpid()}, nil); err != nil {
		return nil, err
	}
	m, fds, err := readMsg(c, 253)
	if err != nil {
		return nil, err
	}
	t.received = time.Now()
	if m.Op != "state" || m.Interface == nil || len(fds) != m.NumFDs || m.NumFDs < m.Interface.NumFDs() {
		for _, fd := range fds {
			unix.Close(fd)
		}
		if m.Op == "fail" {
			return nil, fmt.Errorf("-takeover: %w: %s", errTakeoverRefused, m.Error)
		}
		return nil, fmt.Errorf("-takeover: bad state message (%q, %d descriptors)", m.Op, len(fds))
	}
	t.msg = m
	n := m.Interface.NumFDs()
	extra := fds[n:]
	take := func(i int) int {
		if i < 0 || i >= len(extra) {
			return -1
		}
		fd := extra[i]
		extra[i] = -1
		return fd
	}
	ctlFD, tkFD, metFD := take(m.CtlFD), take(m.TakeoverFD), take(m.MetricsFD)
	for _, fd := range extra {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	for _, x := range []struct {
		fd   int
		name string
		set  func(net.Listener)
	}{
		{ctlFD, "ctl", func(l net.Listener) { t.ctlL = l.(*net.UnixListener); t.ctlL.SetUnlinkOnClose(true) }},
		{tkFD, "takeover", func(l net.Listener) { t.tkL = l.(*net.UnixListener); t.tkL.SetUnlinkOnClose(true) }},
		{metFD, "metrics", func(l net.Listener) { t.metL = l }},
	} {
		if x.fd < 0 {
			continue
		}
		l, err := fileListener(x.fd, x.name)
		if err != nil {
			unix.Close(ctlFD)
			return nil, err
		}
		x.set(l)
	}
	if t.ctlL == nil || t.tkL == nil {
		unix.Close(fds[0]) // not reached with a well-formed state
		return nil, errors.New("-takeover: the old instance sent no control socket")
	}
	if in.ifc, err = dataplane.AdoptInterface(in.cfg.interfaceConfig(), *m.Interface, fds[:n]); err != nil {
		return nil, fmt.Errorf("-takeover: %w", err)
	}
	in.log.Info("takeover: adopted", "from_pid", m.PID, "queues", len(in.ifc.Info().Queues),
		"clients", len(m.Endpoints), "withdrawn", m.Withdrawn)
	return t, nil
}

// commit tells the old instance this one serves.
func (t *takeoverIn) commit() error {
	if time.Since(t.received) > takeoverIOTimeout/2 {
		return errors.New("-takeover: too slow to adopt; the old instance may have resumed")
	}
	// systemd (Type=notify, NotifyAccess=all) must know the new main
	// process before the old one exits; fail gives it back.
	sdNotify(fmt.Sprintf("MAINPID=%d", os.Getpid()))
	if err := writeMsg(t.c, &takeoverMsg{Op: "commit", Version: takeoverVersion, PID: os.Getpid()}, nil); err != nil {
		return err
	}
	t.done = true
	t.c.Close()
	return nil
}

// fail tells the old instance to go on serving, and closes what this side
// took.
func (t *takeoverIn) fail(err error) {
	if t.done {
		return
	}
	t.done = true
	if t.msg != nil && t.msg.PID > 0 {
		sdNotify(fmt.Sprintf("MAINPID=%d", t.msg.PID))
	}
	writeMsg(t.c, &takeoverMsg{Op: "fail", Version: takeoverVersion, Error: err.Error()}, nil)
	t.c.Close()
	for _, l := range []interface{ Close() error }{t.ctlL, t.tkL} {
		if ul, ok := l.(*net.UnixListener); ok && ul != nil {
			ul.SetUnlinkOnClose(false)
			ul.Close()
		}
	}
	if t.metL != nil {
		t.metL.Close()
	}
}
