package netstackep

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/xdpmux/xdpmux/dataplane"
)

// Sender transmits one IP packet on a queue of the dataplane, behind the
// link header its destination's frames taught the dataplane (queue
// dataplane.PeerQueue: the queue the destination last used). It must copy
// pkt before it returns: the caller reuses the buffer, and fail with an
// error matching dataplane.ErrUnknownPeer for a destination never heard
// from. (*dataplane.Endpoint).SendIP satisfies it: the frame goes out on
// the AF_XDP TX ring of the queue, through the queue's worker.
type Sender interface {
	SendIP(queue int, pkt []byte) error
}

var _ Sender = (*dataplane.Endpoint)(nil)

// Receiver is where a Link takes its frames from: a *dataplane.Endpoint.
type Receiver interface {
	Receive(ctx context.Context, batch []dataplane.Frame) (int, error)
	Release(frames []dataplane.Frame)
}

var _ Receiver = (*dataplane.Endpoint)(nil)

// peerCacheGrower is a Receiver whose peer cache Options.MaxPeers sizes.
type peerCacheGrower interface {
	GrowPeerCache(n int) error
}

var _ peerCacheGrower = (*dataplane.Endpoint)(nil)

// Errors returned by New.
var (
	// ErrNoSender: Options.Sender is nil and the endpoint cannot send.
	ErrNoSender = errors.New("netstackep: no sender: the receiver has no SendIP and Options.Sender is nil")
	// ErrBadOptions: an option is out of range.
	ErrBadOptions = errors.New("netstackep: bad options")
)

// Defaults.
const (
	// DefaultMTU is the MTU of a Link whose Options.MTU is 0: the veth
	// default.
	DefaultMTU = 1500
	// DefaultBatch is the receive batch size.
	DefaultBatch = 64
	// DefaultMaxPeers is the peer cache size a Link asks of its endpoint.
	DefaultMaxPeers = 4096
	// DefaultGSOMaxSize is the GSO packet size of a Link whose
	// Options.GSOMaxSize is 0.
	DefaultGSOMaxSize = 65535

	flowSlots = 1024 // direct-mapped flow -> queue table, a power of two
	maxMTU    = 65535
)

// Options configure a Link.
type Options struct {
	// MTU of the link, IP packet bytes; 0 means DefaultMTU.
	MTU uint32
	// LinkAddress is what the Link reports to the stack as its address
	// (stack.LinkEndpoint.LinkAddress), typically the interface's. The
	// stack sees no link header, so the address appears in no packet:
	// the dataplane sends with the address the peer sent to. Empty by
	// default.
	LinkAddress net.HardwareAddr
	// Sender transmits the stack's packets. Nil: the receiver itself, if
	// it has a SendIP method (ErrNoSender otherwise).
	Sender Sender
	// Batch is the receive batch size; 0 means DefaultBatch.
	Batch int
	// TrustRXChecksums tells the stack not to verify received checksums
	// (CapabilityRXChecksumOffload). Only for links where frames never
	// cross a wire: on veth the peer's kernel leaves TCP and UDP checksums
	// partial (CHECKSUM_PARTIAL: the pseudo-header sum only, to be
	// completed by a NIC that does not exist), and AF_XDP hands the frame
	// over as is, so verification would reject every segment. Default
	// false: the stack verifies every checksum.
	TrustRXChecksums bool
	// MaxPeers sizes the peer cache of the receiver, a
	// *dataplane.Endpoint: the one table of the peers' link headers, which
	// SendIP sends with (Endpoint.GrowPeerCache: at least MaxPeers slots,
	// rounded up to a power of two, never shrunk). The cache is
	// direct-mapped: a new peer may take the slot of an older one, whose
	// next frame teaches it again. 0 means DefaultMaxPeers; at most
	// dataplane.MaxPeerCacheSize. A Receiver without GrowPeerCache keeps
	// its own table and ignores MaxPeers.
	MaxPeers int
	// GSOMaxSize, if positive, has the Link claim segmentation offload
	// (stack.HostGSOSupported): gVisor's TCP sends segments of up to
	// GSOMaxSize bytes (IP packet) with a partial checksum, and the Link
	// cuts them into MSS-sized segments and computes their checksums,
	// which is what a NIC's TSO does: one trip through the stack per
	// GSOMaxSize bytes instead of per MSS. 0 means DefaultGSOMaxSize, -1
	// no GSO (the stack cuts segments and computes checksums); at most
	// 65535.
	GSOMaxSize int
}

// Stats are a Link's counters.
type Stats struct {
	RXPackets uint64 `json:"rx_packets"` // IP packets injected into the stack
	RXBytes   uint64 `json:"rx_bytes"`   // their IP bytes
	// RXDropped frames were released without reaching the stack: no IP
	// packet (Frame.IP empty) or no stack attached.
	RXDropped uint64 `json:"rx_dropped"`
	TXPackets uint64 `json:"tx_packets"` // IP packets the Sender took
	TXBytes   uint64 `json:"tx_bytes"`   // their IP bytes
	// TXNoPeer packets were dropped: their destination never sent us a
	// frame (or was evicted from the peer cache), so its link header is
	// not known (dataplane.ErrUnknownPeer).
	TXNoPeer uint64 `json:"tx_no_peer"`
	// TXErrors packets were dropped: too big, or the Sender failed.
	TXErrors uint64 `json:"tx_errors"`
	// TXGSO counts the stack's packets larger than one segment that the
	// Link cut into segments (GSO); each segment counts in TXPackets.
	TXGSO uint64 `json:"tx_gso"`
}

// Link is a stack.LinkEndpoint over one xdpmux endpoint. The stack sees a
// link without a link header (IP packets in, IP packets out); the
// dataplane owns the link layer: Frame.IP strips it on receive, SendIP
// adds it on transmit. Its methods are safe for concurrent use.
type Link struct {
	rx     Receiver
	tx     Sender
	caps   stack.LinkEndpointCapabilities
	batchN int

	mu         sync.Mutex // guards the fields below
	dispatcher stack.NetworkDispatcher
	mtu        uint32
	linkAddr   tcpip.LinkAddress
	cancel     context.CancelFunc // stops the receive goroutine; nil if none
	closed     bool
	onClose    func()

	// flowMu guards flows: written once per received batch, read once
	// per sent packet.
	flowMu sync.RWMutex
	flows  [flowSlots]flowEntry

	txMu  sync.Mutex // guards txBuf and seg
	txBuf []byte
	seg   segmenter
	gso   uint32 // GSOMaxSize; 0: none

	wg sync.WaitGroup // the receive goroutine

	rxPackets, rxBytes, rxDropped          atomic.Uint64
	txPackets, txBytes, txNoPeer, txErrors atomic.Uint64
	txGSO                                  atomic.Uint64
	dispatched                             atomic.Pointer[dispatcherBox]
}

type dispatcherBox struct{ d stack.NetworkDispatcher }

// flowEntry is the queue a remote address and port's traffic last
// arrived on.
type flowEntry struct {
	remote netip.AddrPort
	queue  int32
}

var (
	_ stack.LinkEndpoint = (*Link)(nil)
	_ stack.GSOEndpoint  = (*Link)(nil)
)

// New returns a Link taking frames from rx (a *dataplane.Endpoint) and
// sending through opts.Sender. Frames are taken from the first Attach of a
// stack (stack.CreateNIC) until the Link is closed or detached.
func New(rx Receiver, opts Options) (*Link, error) {
	if rx == nil {
		return nil, fmt.Errorf("%w: nil receiver", ErrBadOptions)
	}
	if opts.MTU == 0 {
		opts.MTU = DefaultMTU
	}
	if opts.MTU < 1280 || opts.MTU > maxMTU {
		return nil, fmt.Errorf("%w: MTU %d, want 1280..%d", ErrBadOptions, opts.MTU, maxMTU)
	}
	if opts.Batch == 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Batch < 1 {
		return nil, fmt.Errorf("%w: batch %d", ErrBadOptions, opts.Batch)
	}
	if opts.MaxPeers == 0 {
		opts.MaxPeers = DefaultMaxPeers
	}
	if opts.MaxPeers < 1 || opts.MaxPeers > dataplane.MaxPeerCacheSize {
		return nil, fmt.Errorf("%w: max peers %d, want 1..%d", ErrBadOptions, opts.MaxPeers, dataplane.MaxPeerCacheSize)
	}
	switch {
	case opts.GSOMaxSize == 0:
		opts.GSOMaxSize = DefaultGSOMaxSize
	case opts.GSOMaxSize == -1:
		opts.GSOMaxSize = 0
	case opts.GSOMaxSize < 0 || opts.GSOMaxSize > maxMTU:
		return nil, fmt.Errorf("%w: GSO max size %d, want -1..%d", ErrBadOptions, opts.GSOMaxSize, maxMTU)
	}
	tx := opts.Sender
	if tx == nil {
		s, ok := rx.(Sender)
		if !ok {
			return nil, ErrNoSender
		}
		tx = s
	}
	if g, ok := rx.(peerCacheGrower); ok {
		if err := g.GrowPeerCache(opts.MaxPeers); err != nil {
			return nil, fmt.Errorf("netstackep: %w", err)
		}
	}
	l := &Link{
		rx:       rx,
		tx:       tx,
		caps:     stack.CapabilityNone,
		batchN:   opts.Batch,
		mtu:      opts.MTU,
		linkAddr: tcpip.LinkAddress(opts.LinkAddress),
		txBuf:    make([]byte, maxMTU),
		gso:      uint32(opts.GSOMaxSize),
	}
	if opts.TrustRXChecksums {
		l.caps |= stack.CapabilityRXChecksumOffload
	}
	for i := range l.flows {
		l.flows[i].queue = -1
	}
	return l, nil
}

// Stats returns the Link's counters.
func (l *Link) Stats() Stats {
	return Stats{
		RXPackets: l.rxPackets.Load(),
		RXBytes:   l.rxBytes.Load(),
		RXDropped: l.rxDropped.Load(),
		TXPackets: l.txPackets.Load(),
		TXBytes:   l.txBytes.Load(),
		TXNoPeer:  l.txNoPeer.Load(),
		TXErrors:  l.txErrors.Load(),
		TXGSO:     l.txGSO.Load(),
	}
}

// MTU implements stack.LinkEndpoint.
func (l *Link) MTU() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mtu
}

// SetMTU implements stack.LinkEndpoint. Values beyond 65535 are clamped.
func (l *Link) SetMTU(mtu uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mtu = min(mtu, maxMTU)
}

// MaxHeaderLength implements stack.LinkEndpoint: the stack reserves no
// room for a link header; WritePackets copies the packet behind one.
func (*Link) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements stack.LinkEndpoint.
func (l *Link) LinkAddress() tcpip.LinkAddress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.linkAddr
}

// SetLinkAddress implements stack.LinkEndpoint. It only changes what the
// Link reports: the dataplane sends with the address the peer sent to.
func (l *Link) SetLinkAddress(addr tcpip.LinkAddress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.linkAddr = addr
}

// Capabilities implements stack.LinkEndpoint: none (the stack verifies
// received checksums and computes sent ones), or RX checksum offload with
// Options.TrustRXChecksums. Never link resolution: the dataplane learns
// the peers' link headers from their frames.
func (l *Link) Capabilities() stack.LinkEndpointCapabilities { return l.caps }

// GSOMaxSize implements stack.GSOEndpoint: Options.GSOMaxSize, 0 without
// segmentation offload.
func (l *Link) GSOMaxSize() uint32 { return l.gso }

// SupportedGSO implements stack.GSOEndpoint: host GSO (the Link cuts the
// segments, gso.go) unless Options.GSOMaxSize is -1.
func (l *Link) SupportedGSO() stack.SupportedGSO {
	if l.gso == 0 {
		return stack.GSONotSupported
	}
	return stack.HostGSOSupported
}

// ARPHardwareType implements stack.LinkEndpoint: the stack sees no link
// header.
func (*Link) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

// AddHeader implements stack.LinkEndpoint; WritePackets adds the header.
func (*Link) AddHeader(*stack.PacketBuffer) {}

// ParseHeader implements stack.LinkEndpoint; received packets carry none.
func (*Link) ParseHeader(*stack.PacketBuffer) bool { return true }

// SetOnCloseAction implements stack.LinkEndpoint.
func (l *Link) SetOnCloseAction(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onClose = fn
}

// Attach implements stack.LinkEndpoint. Attaching a dispatcher starts the
// receive goroutine; attaching nil (the NIC is removed) stops it.
func (l *Link) Attach(d stack.NetworkDispatcher) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dispatcher = d
	if d == nil {
		l.dispatched.Store(nil)
		l.stopLocked()
		return
	}
	l.dispatched.Store(&dispatcherBox{d})
	if l.cancel != nil || l.closed {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go l.receiveLoop(ctx)
}

// IsAttached implements stack.LinkEndpoint.
func (l *Link) IsAttached() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dispatcher != nil
}

func (l *Link) stopLocked() {
	if l.cancel != nil {
		l.cancel()
		l.cancel = nil
	}
}

// Wait implements stack.LinkEndpoint: it waits for the receive goroutine,
// which Close or Attach(nil) stop.
//
// gVisor's Stack.Wait (and so Stack.Destroy) calls Wait while holding the
// stack's lock, and a receive goroutine in the middle of a delivery may be
// waiting for that same lock (a reset's route lookup, say): stop the Link
// with Stop before destroying its stack, as gVisor asks of link endpoints.
func (l *Link) Wait() { l.wg.Wait() }

// Stop stops the receive goroutine and waits until it has returned. Call it
// before Stack.Destroy: the goroutine can then finish a delivery that needs
// the stack's lock, which Destroy would hold while waiting for it. A Link
// does not start receiving again after Stop.
func (l *Link) Stop() {
	l.Close()
	l.wg.Wait()
}

// Close implements stack.LinkEndpoint: it stops the receive goroutine. It
// does not close the dataplane endpoint, which its owner closes.
func (l *Link) Close() {
	l.mu.Lock()
	l.closed = true
	l.stopLocked()
	fn := l.onClose
	l.onClose = nil
	l.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// receiveLoop takes batches of frames until ctx is done or the endpoint
// closes, injects them and releases them.
func (l *Link) receiveLoop(ctx context.Context) {
	defer l.wg.Done()
	batch := make([]dataplane.Frame, l.batchN)
	for {
		n, err := l.rx.Receive(ctx, batch)
		if err != nil {
			return
		}
		l.deliverBatch(batch[:n])
		l.rx.Release(batch[:n])
	}
}

// deliverBatch learns the batch's flows, then injects each frame's IP
// packet (Frame.IP: no link header, no padding) into the stack.
func (l *Link) deliverBatch(frames []dataplane.Frame) {
	l.learn(frames)
	box := l.dispatched.Load()
	for i := range frames {
		ip := frames[i].IP()
		if len(ip) == 0 || box == nil {
			l.rxDropped.Add(1)
			continue
		}
		proto := header.IPv4ProtocolNumber
		if ip[0]>>4 == 6 {
			proto = header.IPv6ProtocolNumber
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(ip)})
		box.d.DeliverNetworkPacket(proto, pkt)
		pkt.DecRef()
		l.rxPackets.Add(1)
		l.rxBytes.Add(uint64(len(ip)))
	}
}

func flowIndex(a netip.AddrPort) int {
	b := a.Addr().As16()
	h := binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:]) ^ uint64(a.Port())<<48
	h *= 0x9e3779b97f4a7c15
	return int(h >> 54) // 10 bits: flowSlots
}

// learn records the queue each frame's flow arrived on. One lock per
// batch. The peers' link headers are the dataplane's: its endpoint learns
// them as it hands the frames over.
func (l *Link) learn(frames []dataplane.Frame) {
	l.flowMu.Lock()
	defer l.flowMu.Unlock()
	for i := range frames {
		f := &frames[i]
		src := netip.AddrPortFrom(f.Src.Addr().Unmap(), f.Src.Port())
		fe := &l.flows[flowIndex(src)]
		fe.remote, fe.queue = src, int32(f.Queue)
	}
}

// queueFor returns the queue a packet to dst goes out on: the one its flow
// last arrived on when seen, else dataplane.PeerQueue (the one the peer
// last used).
func (l *Link) queueFor(dst netip.AddrPort) int {
	l.flowMu.RLock()
	defer l.flowMu.RUnlock()
	if fe := &l.flows[flowIndex(dst)]; fe.remote == dst && fe.queue >= 0 {
		return int(fe.queue)
	}
	return dataplane.PeerQueue
}

// WritePackets implements stack.LinkWriter: each packet goes out through
// the Sender, which puts the peer's link header before it. Packets to unknown peers, too big or
// refused by the Sender are dropped and counted; the stack retransmits.
// It does not take the packets' references (the caller keeps them).
func (l *Link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	n := 0
	var firstErr tcpip.Error
	for _, pkt := range pkts.AsSlice() {
		if err := l.writeOne(pkt); err != nil && firstErr == nil {
			firstErr = err
		}
		n++
	}
	if n == 1 && firstErr != nil {
		return 0, firstErr
	}
	return n, nil
}

// writeOne copies one packet out of the stack's buffers and sends it.
// l.txMu held.
func (l *Link) writeOne(pkt *stack.PacketBuffer) tcpip.Error {
	size := pkt.Size()
	if size > maxMTU {
		l.txErrors.Add(1)
		return &tcpip.ErrMessageTooLong{}
	}
	buf := l.txBuf[:size]
	vl, off := pkt.AsViewList()
	w := 0
	for v := vl.Front(); v != nil && w < size; v = v.Next() {
		s := v.AsSlice()
		if off >= len(s) {
			off -= len(s)
			continue
		}
		w += copy(buf[w:], s[off:])
		off = 0
	}
	if w != size {
		l.txErrors.Add(1)
		return &tcpip.ErrMalformedHeader{}
	}
	dst, ok := packetDst(buf)
	if !ok {
		l.txErrors.Add(1)
		return &tcpip.ErrMalformedHeader{}
	}
	queue := l.queueFor(dst)
	if g := &pkt.GSOOptions; (g.Type == stack.GSOTCPv4 || g.Type == stack.GSOTCPv6) && g.NeedsCsum {
		return l.writeSegments(buf, int(g.MSS), queue)
	}
	return l.sendIP(queue, buf)
}

// sendIP hands one IP packet to the Sender and counts it. l.txMu held.
func (l *Link) sendIP(queue int, buf []byte) tcpip.Error {
	if err := l.tx.SendIP(queue, buf); err != nil {
		if errors.Is(err, dataplane.ErrUnknownPeer) {
			l.txNoPeer.Add(1)
			return nil // like a NIC without a neighbour entry: dropped
		}
		l.txErrors.Add(1)
		if errors.Is(err, net.ErrClosed) {
			return &tcpip.ErrClosedForSend{}
		}
		return &tcpip.ErrNoBufferSpace{}
	}
	l.txPackets.Add(1)
	l.txBytes.Add(uint64(len(buf)))
	return nil
}

// packetDst returns an IP packet's destination address and, for TCP and
// UDP (IPv6: without extension headers), port; 0 otherwise.
func packetDst(ip []byte) (netip.AddrPort, bool) {
	if len(ip) == 0 {
		return netip.AddrPort{}, false
	}
	var (
		a     netip.Addr
		proto byte
		l4    []byte
	)
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < header.IPv4MinimumSize {
			return netip.AddrPort{}, false
		}
		ihl := int(ip[0]&0xf) * 4
		if ihl < header.IPv4MinimumSize || ihl > len(ip) {
			return netip.AddrPort{}, false
		}
		a = netip.AddrFrom4([4]byte(ip[16:20]))
		proto, l4 = ip[9], ip[ihl:]
		if binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0 {
			l4 = nil // not the first fragment: no ports
		}
	case 6:
		if len(ip) < header.IPv6MinimumSize {
			return netip.AddrPort{}, false
		}
		a = netip.AddrFrom16([16]byte(ip[24:40]))
		proto, l4 = ip[6], ip[header.IPv6MinimumSize:]
	default:
		return netip.AddrPort{}, false
	}
	var port uint16
	if (proto == 6 || proto == 17) && len(l4) >= 4 {
		port = binary.BigEndian.Uint16(l4[2:4])
	}
	return netip.AddrPortFrom(a, port), true
}
