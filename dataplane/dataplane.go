package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
	"github.com/xdpmux/xdpmux/rxq/rss"
)

var (
	// ErrClosed is returned (possibly wrapped) by the methods of a closed
	// Dataplane or Endpoint. It is net.ErrClosed.
	ErrClosed = net.ErrClosed
	// ErrNotSupported is returned (wrapped) for what the dataplane cannot
	// do, such as sending on a queue without a TX ring or from a TCP
	// endpoint (docs/REPLIES.md), or by OpenInterface for what the kernel
	// or device lacks (ZeroCopyForce without zero-copy). It is
	// rxq.ErrNotSupported, so one errors.Is covers both.
	ErrNotSupported = rxq.ErrNotSupported
	// ErrInvalidConfig is returned (wrapped) by New and Bind for bad options.
	ErrInvalidConfig = errors.New("invalid dataplane config")
	// ErrBadHash is returned (wrapped) by New for a Config.Hash other
	// than HashToeplitz or HashNIC.
	ErrBadHash = fmt.Errorf("%w: hash must be %q or %q", ErrInvalidConfig, HashToeplitz, HashNIC)
	// ErrStarted is returned (wrapped) by Start when called twice.
	ErrStarted = errors.New("dataplane already started")
	// ErrInHandler is returned (wrapped) by the control calls that wait
	// for the queues' workers (Bind, Start, Close, Pause, CheckFrames, the
	// Set methods) when an endpoint's Handler calls them: the worker
	// running the handler could never answer. Endpoint.Close is the
	// exception: from a Handler it closes asynchronously.
	ErrInHandler = errors.New("called from a Handler, on the queue's worker it would wait for")
)

// The packet hash sources of Config.Hash.
const (
	HashToeplitz = "toeplitz" // the software Toeplitz hash (the default)
	HashNIC      = "nic"      // the NIC's hash where the driver gives one
)

// DefaultRingSize is the default number of slots of a (queue, endpoint)
// delivery ring.
const DefaultRingSize = 1024

// Claimer keeps the XDP program's claimed (protocol, destination address,
// destination port) set in step with the bound endpoints. addr is always one
// specific address, IPv4 unmapped, never unspecified: a wildcard endpoint is
// claimed on each local address it can receive. xdpprog.Program satisfies
// it.
type Claimer interface {
	Claim(proto uint8, addr netip.Addr, port uint16) error
	Unclaim(proto uint8, addr netip.Addr, port uint16) error
}

// Config configures a Dataplane.
type Config struct {
	// Sources has one receive source per queue; Sources[q].Queue() should
	// be q. The Dataplane uses them but does not close them: the caller
	// closes them after Dataplane.Close.
	Sources []rxq.Source
	// Key is the Toeplitz key; nil means rss.DefaultKey.
	Key []byte
	// Hash is where the packet hash comes from (SPEC section 2):
	// HashToeplitz ("" too) computes the software Toeplitz hash of every
	// frame; HashNIC takes the hash the NIC computed from the XDP
	// metadata before the frame (rxq.ReadMeta, written by the xdpmux_nichash
	// program) when the frame's metadata says it is valid, and the
	// software hash otherwise, frame by frame. QueueStats.HashNIC and
	// HashSoftware count which one each frame got.
	Hash string
	// Table configures the pcb tables. Queues 0 means len(Sources);
	// GroupLimit 0 means the pcb default.
	Table pcb.Config
	// RingSize is the default delivery ring size per (queue, endpoint), a
	// power of two; 0 means DefaultRingSize.
	RingSize int
	// FrameReserve is how many of each queue's UMEM frames are never lent
	// to endpoints, kept for the fill ring; the rest is shared among the
	// owners of bound endpoints (frame budgets, docs/DATAPLANE.md). 0
	// means DefaultFrameReserve; negative means none.
	FrameReserve int
	// EndpointFloor is the least frame budget, per queue, of an endpoint
	// (never above its ring size) and of an owner, however many share the
	// queue; 0 means DefaultEndpointFloor.
	EndpointFloor int
	// Claimer, if set, is told which (protocol, address, port) triples to
	// claim.
	Claimer Claimer
	// LocalAddrs are the host's local addresses (SetLocalAddrs changes
	// them): a bind to a specific address must name one of them, and a
	// wildcard bind claims each of its family but loopback ones. A
	// Dataplane with neither LocalAddrs nor a Claimer checks no address.
	// OpenInterface fills it with every address of the interface's
	// namespace and follows their changes.
	LocalAddrs []netip.Addr
	// AllowNonlocal lets a bind name a specific address that is not local
	// (as net.ipv4.ip_nonlocal_bind); it is claimed all the same.
	AllowNonlocal bool
	// Access decides which uid may bind which port (AccessPolicy).
	Access AccessPolicy
	// BoundedLoad, when its Fill is set, steers new flows away from group
	// members whose ring is filling up (boundedload.go).
	BoundedLoad BoundedLoad
	// KernelSockets, if set, is asked before each bind whether a kernel
	// socket holds the address and port (then the bind fails with
	// pcb.ErrAddrInUse). OpenInterface fills it.
	KernelSockets KernelSockets
	// Neighbors, if set, is asked for a destination that WriteTo, SendIP
	// or AppendFrame finds no peer cache entry for (neighbor.go).
	// OpenInterface fills it with the kernel's neighbour table of the
	// interface.
	Neighbors NeighborTable
	// LockOSThread locks each worker goroutine to an OS thread.
	LockOSThread bool
	// CPUs, if not empty, pins worker q to CPUs[q%len(CPUs)] (implies
	// LockOSThread).
	CPUs []int
}

// checkHash validates Config.Hash.
func checkHash(h string) error {
	switch h {
	case "", HashToeplitz, HashNIC:
		return nil
	}
	return fmt.Errorf("%w: %q", ErrBadHash, h)
}

// Dataplane runs one worker per queue and the control plane that binds
// endpoints. Its methods are safe for concurrent use.
type Dataplane struct {
	cfg     Config
	tz      *rss.Toeplitz
	workers []*worker

	// ctlMu serializes the control plane: every change, CheckFrames and
	// Close. Lock order: ctlMu, then stateMu, then an Endpoint's mu, then
	// postMu.
	ctlMu sync.Mutex
	// stateMu guards auth, eps, claims, epClaims and local for the getters
	// (Stats, Policy, LocalAddrs, ...), which take it alone: a writer holds
	// ctlMu and takes stateMu around the change only, never across a wait
	// for the workers, so a getter called from a Handler cannot wait for
	// the handler's own worker. Readers under ctlMu need not take it.
	stateMu sync.Mutex
	auth    *pcb.Table // the authority table
	eps     []*Endpoint
	freeIDs []pcb.EndpointID
	claims  map[claimKey]int // endpoints per claimed (proto, addr, port)
	started bool
	closed  bool
	// paused is set by Pause until Resume or Abandon (handover.go), which
	// hold ctlMu all that time.
	paused atomic.Bool
	wg     sync.WaitGroup // worker goroutines

	// Under ctlMu and stateMu too: the claims each bound endpoint holds a
	// reference to, and the local addresses (normalized) with whether
	// specific binds are checked against them.
	epClaims   map[pcb.EndpointID][]claimKey
	local      []netip.Addr
	checkAddrs bool

	// postMu[q] serializes Recycle calls on source q once the workers are
	// gone (frames released after Close).
	postMu []sync.Mutex
}

// New validates cfg and builds a Dataplane whose workers are not yet
// running. Endpoints may be bound before Start.
func New(cfg Config) (*Dataplane, error) {
	if len(cfg.Sources) == 0 {
		return nil, fmt.Errorf("%w: no sources", ErrInvalidConfig)
	}
	for q, s := range cfg.Sources {
		if s == nil {
			return nil, fmt.Errorf("%w: source %d is nil", ErrInvalidConfig, q)
		}
		if s.Queue() != q {
			return nil, fmt.Errorf("%w: source %d serves queue %d", ErrInvalidConfig, q, s.Queue())
		}
	}
	if cfg.RingSize == 0 {
		cfg.RingSize = DefaultRingSize
	}
	if cfg.Access.UnprivilegedPortStart == 0 {
		// Not from a namespace (OpenInterface fills it): a Dataplane over
		// sources of its own takes no port from any kernel, so none is
		// privileged unless the caller says so.
		cfg.Access.UnprivilegedPortStart = -1
	}
	if err := cfg.Access.validate(); err != nil {
		return nil, err
	}
	cfg.Access.Allow = append([]AllowRule(nil), cfg.Access.Allow...)
	if err := cfg.BoundedLoad.validate(); err != nil {
		return nil, err
	}
	if err := checkRingSize(cfg.RingSize); err != nil {
		return nil, err
	}
	if err := checkHash(cfg.Hash); err != nil {
		return nil, err
	}
	if cfg.Hash == "" {
		cfg.Hash = HashToeplitz
	}
	key := cfg.Key
	if key == nil {
		key = rss.DefaultKey[:]
	}
	tz, err := rss.NewToeplitz(key)
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	if cfg.Table.Queues == 0 {
		cfg.Table.Queues = len(cfg.Sources)
	}
	if cfg.Table.GroupLimit == 0 {
		cfg.Table.GroupLimit = pcb.DefaultConfig().GroupLimit
	}
	auth, err := pcb.NewTable(cfg.Table)
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	d := &Dataplane{
		cfg:    cfg,
		tz:     tz,
		auth:   auth,
		eps:    make([]*Endpoint, 1), // ID 0 means none
		claims: make(map[claimKey]int),
		postMu: make([]sync.Mutex, len(cfg.Sources)),
	}
	d.epClaims = make(map[pcb.EndpointID][]claimKey)
	d.local = normalizeAddrs(cfg.LocalAddrs)
	d.checkAddrs = len(cfg.LocalAddrs) > 0 || cfg.Claimer != nil
	for q, s := range cfg.Sources {
		t := auth.Clone()
		t.SetHome(uint32(q)) // queue-local members (pcb.Spec.HasQueue)
		d.workers = append(d.workers, newWorker(d, q, s, t))
	}
	if err := d.initBudgets(); err != nil {
		return nil, err
	}
	return d, nil
}

func checkRingSize(n int) error {
	if n < 2 || n&(n-1) != 0 || n > 1<<24 {
		return fmt.Errorf("%w: ring size %d, want a power of two in 2..%d", ErrInvalidConfig, n, 1<<24)
	}
	return nil
}

// Queues returns the number of queues.
func (d *Dataplane) Queues() int { return len(d.workers) }

// Start launches one worker goroutine per queue.
func (d *Dataplane) Start() error {
	if err := d.lockCtl("start"); err != nil {
		return err
	}
	defer d.ctlMu.Unlock()
	switch {
	case d.closed:
		return fmt.Errorf("start: %w", ErrClosed)
	case d.started:
		return fmt.Errorf("start: %w", ErrStarted)
	}
	d.started = true
	for _, w := range d.workers {
		d.wg.Add(1)
		go w.run()
	}
	return nil
}

// Close closes every endpoint, stops the workers and gives every frame not
// held by an application back to its source; frames applications still hold
// go back when they Release them. Close does not close the sources.
// It is idempotent.
func (d *Dataplane) Close() error {
	if err := d.lockCtl("close"); err != nil {
		return err
	}
	defer d.ctlMu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	for _, ep := range d.eps {
		if ep != nil {
			ep.markClosed()
		}
	}
	d.broadcast(&ctlMsg{op: msgStop})
	d.wg.Wait()
	// The workers are gone: frames released from now on go straight back to
	// their source, under postMu.
	for _, w := range d.workers {
		for _, r := range w.allRings() {
			r.ep.mu.Lock()
			r.ep.postClose = true
			d.recycleReleased(r)
			r.ep.mu.Unlock()
		}
	}
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	var errs []error
	for k := range d.claims {
		if d.cfg.Claimer != nil {
			if err := d.cfg.Claimer.Unclaim(uint8(k.proto), k.addr, k.port); err != nil {
				errs = append(errs, fmt.Errorf("unclaim %s: %w", k, err))
			}
		}
		delete(d.claims, k)
	}
	clear(d.epClaims)
	for id, ep := range d.eps {
		if ep != nil {
			d.eps[id] = nil
		}
	}
	return errors.Join(errs...)
}

// recycleReleased gives the frames released into r back to r's source
// directly. The workers must be stopped; r.ep.mu must be held.
func (d *Dataplane) recycleReleased(r *ring) {
	rel := r.rel.Load()
	if r.done == rel {
		return
	}
	mu := &d.postMu[r.queue]
	mu.Lock()
	addrs := make([]uint64, 0, rel-r.done)
	for ; r.done != rel; r.done++ {
		addrs = append(addrs, r.slots[r.done&r.mask].addr)
	}
	d.cfg.Sources[r.queue].Recycle(addrs)
	mu.Unlock()
}
