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
	"github.com/xdpmux/xdpmux/dataplane/packet"
)

// Sender transmits one whole Ethernet frame on a queue of the dataplane. It
// must copy frame before it returns: the caller reuses the buffer.
// (*dataplane.Endpoint).SendFrame satisfies it: the frame goes out on the
// AF_XDP TX ring of the queue, through the queue's worker.
type Sender interface {
	SendFrame(queue int, frame []byte) error
}

var _ Sender = (*dataplane.Endpoint)(nil)

// Receiver is where a Link takes its frames from: a *dataplane.Endpoint.
type Receiver interface {
	Receive(ctx context.Context, batch []dataplane.Frame) (int, error)
	Release(frames []dataplane.Frame)
}

var _ Receiver = (*dataplane.Endpoint)(nil)

// Errors returned by New.
var (
	// ErrNoSender: Options.Sender is nil and the endpoint cannot send.
	ErrNoSender = errors.New("netstackep: no sender: the endpoint has no SendFrame and Options.Sender is nil")
	// ErrBadOptions: an option is out of range.
	ErrBadOptions = errors.New("netstackep: bad options")
)

// Defaults.
const (
	// DefaultMTU is the MTU of a Link whose Options.MTU is 0: Ethernet's,
	// and the veth default.
	DefaultMTU = 1500
	// DefaultBatch is the receive batch size.
	DefaultBatch = 64
	// DefaultMaxPeers bounds the learned peer table.
	DefaultMaxPeers = 4096

	maxL2       = 14 + 8 // Ethernet with two VLAN tags
	flowSlots   = 1024   // direct-mapped flow -> queue table, a power of two
	maxMTU      = 65535
	etherTypeV4 = 0x0800
	etherTypeV6 = 0x86dd
)

// Options configure a Link.
type Options struct {
	// MTU of the link, IP packet bytes; 0 means DefaultMTU.
	MTU uint32
	// LinkAddress is the Link's own MAC, reported to the stack. Empty: the
	// destination MAC of the first received frame (the interface's).
	LinkAddress net.HardwareAddr
	// Sender transmits the stack's packets. Nil: the receiver itself, if
	// it has a SendFrame method (ErrNoSender otherwise).
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
	// MaxPeers bounds the learned peer table; when it is full the table is
	// cleared and learned again from the next frames. 0 means
	// DefaultMaxPeers.
	MaxPeers int
}

// Stats are a Link's counters.
type Stats struct {
	RXPackets uint64 `json:"rx_packets"` // IP packets injected into the stack
	RXBytes   uint64 `json:"rx_bytes"`   // their IP bytes
	// RXDropped frames were released without reaching the stack: not IPv4
	// or IPv6, truncated, or no stack attached.
	RXDropped uint64 `json:"rx_dropped"`
	TXPackets uint64 `json:"tx_packets"` // frames handed to the Sender
	TXBytes   uint64 `json:"tx_bytes"`   // their bytes, link header included
	// TXNoPeer packets were dropped: their destination never sent us a
	// frame, so its MAC address is not known.
	TXNoPeer uint64 `json:"tx_no_peer"`
	// TXErrors packets were dropped: too big, or the Sender failed.
	TXErrors uint64 `json:"tx_errors"`
}

// Link is a stack.LinkEndpoint over one xdpmux endpoint. The stack sees a
// link without a link header (IP packets in, IP packets out); the Link adds
// and strips Ethernet itself. Its methods are safe for concurrent use.
type Link struct {
	rx     Receiver
	tx     Sender
	caps   stack.LinkEndpointCapabilities
	batchN int
	maxP   int

	mu         sync.Mutex // guards the fields below
	dispatcher stack.NetworkDispatcher
	mtu        uint32
	linkAddr   tcpip.LinkAddress
	cancel     context.CancelFunc // stops the receive goroutine; nil if none
	closed     bool
	onClose    func()

	// peerMu guards peers and flows: written once per received batch,
	// read once per WritePackets call.
	peerMu sync.RWMutex
	peers  map[netip.Addr]*peer
	flows  [flowSlots]flowEntry

	txMu  sync.Mutex // guards txBuf
	txBuf []byte

	wg sync.WaitGroup // the receive goroutine

	rxPackets, rxBytes, rxDropped          atomic.Uint64
	txPackets, txBytes, txNoPeer, txErrors atomic.Uint64
	dispatched                             atomic.Pointer[dispatcherBox]
	haveAddr                               atomic.Bool // linkAddr is set
}

type dispatcherBox struct{ d stack.NetworkDispatcher }

// peer is how to reach a remote address: its link header and the queue its
// traffic last arrived on.
type peer struct {
	l2    [maxL2]byte // destination MAC = the peer's, source = ours, tags, ethertype
	l2Len uint8
	queue int32
}

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
	if opts.MaxPeers < 1 {
		return nil, fmt.Errorf("%w: max peers %d", ErrBadOptions, opts.MaxPeers)
	}
	if len(opts.LinkAddress) != 0 && len(opts.LinkAddress) != 6 {
		return nil, fmt.Errorf("%w: link address %v is not a MAC-48", ErrBadOptions, opts.LinkAddress)
	}
	tx := opts.Sender
	if tx == nil {
		s, ok := rx.(Sender)
		if !ok {
			return nil, ErrNoSender
		}
		tx = s
	}
	l := &Link{
		rx:       rx,
		tx:       tx,
		caps:     stack.CapabilityNone,
		batchN:   opts.Batch,
		maxP:     opts.MaxPeers,
		mtu:      opts.MTU,
		linkAddr: tcpip.LinkAddress(opts.LinkAddress),
		peers:    make(map[netip.Addr]*peer),
		txBuf:    make([]byte, maxL2+maxMTU),
	}
	if opts.TrustRXChecksums {
		l.caps |= stack.CapabilityRXChecksumOffload
	}
	for i := range l.flows {
		l.flows[i].queue = -1
	}
	l.haveAddr.Store(len(l.linkAddr) != 0)
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
// Link reports: frames are sent with the MAC the peer sent to.
func (l *Link) SetLinkAddress(addr tcpip.LinkAddress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.linkAddr = addr
}

// Capabilities implements stack.LinkEndpoint: none (the stack verifies
// received checksums and computes sent ones), or RX checksum offload with
// Options.TrustRXChecksums. Never link resolution: the peers' MACs are
// learned from their frames.
func (l *Link) Capabilities() stack.LinkEndpointCapabilities { return l.caps }

// GSOMaxSize implements stack.GSOEndpoint: no segmentation offload.
func (*Link) GSOMaxSize() uint32 { return 0 }

// SupportedGSO implements stack.GSOEndpoint.
func (*Link) SupportedGSO() stack.SupportedGSO { return stack.GSONotSupported }

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

// deliverBatch learns the batch's peers, then injects each frame's IP
// packet into the stack.
func (l *Link) deliverBatch(frames []dataplane.Frame) {
	l.learn(frames)
	box := l.dispatched.Load()
	for i := range frames {
		f := &frames[i]
		proto, ip, ok := parseFrame(f.Data)
		if !ok || box == nil {
			l.rxDropped.Add(1)
			continue
		}
		if !l.haveAddr.Load() {
			l.mu.Lock()
			if len(l.linkAddr) == 0 {
				l.linkAddr = tcpip.LinkAddress(f.Data[0:6])
			}
			l.haveAddr.Store(true)
			l.mu.Unlock()
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(ip)})
		box.d.DeliverNetworkPacket(proto, pkt)
		pkt.DecRef()
		l.rxPackets.Add(1)
		l.rxBytes.Add(uint64(len(ip)))
	}
}

// parseFrame checks an Ethernet frame (with up to two VLAN tags) carrying
// IPv4 or IPv6 and returns the IP packet, trimmed to its IP length.
func parseFrame(b []byte) (tcpip.NetworkProtocolNumber, []byte, bool) {
	off, ok := l2Len(b)
	if !ok {
		return 0, nil, false
	}
	et := binary.BigEndian.Uint16(b[off-2:])
	ip := b[off:]
	switch et {
	case etherTypeV4:
		if len(ip) < header.IPv4MinimumSize || ip[0]>>4 != 4 {
			return 0, nil, false
		}
		tl := int(binary.BigEndian.Uint16(ip[2:4]))
		if tl < int(ip[0]&0xf)*4 || tl < header.IPv4MinimumSize || tl > len(ip) {
			return 0, nil, false
		}
		return header.IPv4ProtocolNumber, ip[:tl], true
	case etherTypeV6:
		if len(ip) < header.IPv6MinimumSize || ip[0]>>4 != 6 {
			return 0, nil, false
		}
		tl := header.IPv6MinimumSize + int(binary.BigEndian.Uint16(ip[4:6]))
		if tl > len(ip) {
			return 0, nil, false
		}
		return header.IPv6ProtocolNumber, ip[:tl], true
	}
	return 0, nil, false
}

// l2Len returns the length of b's link header: Ethernet and up to two
// VLAN tags, by the same rules (TPIDs 0x8100, 0x88a8, 0x9100) as the
// worker's packet.Parse, so every frame the dataplane delivers is
// understood here.
func l2Len(b []byte) (int, bool) {
	n, r := packet.LinkHeaderLen(b)
	return n, r == packet.OK && n <= maxL2
}

func flowIndex(a netip.AddrPort) int {
	b := a.Addr().As16()
	h := binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:]) ^ uint64(a.Port())<<48
	h *= 0x9e3779b97f4a7c15
	return int(h >> 54) // 10 bits: flowSlots
}

// learn records, for each frame, its sender's link header (swapped) and
// the queue of its flow. One lock per batch.
func (l *Link) learn(frames []dataplane.Frame) {
	l.peerMu.Lock()
	defer l.peerMu.Unlock()
	for i := range frames {
		f := &frames[i]
		n, ok := l2Len(f.Data)
		if !ok {
			continue
		}
		src := netip.AddrPortFrom(f.Src.Addr().Unmap(), f.Src.Port())
		fe := &l.flows[flowIndex(src)]
		fe.remote, fe.queue = src, int32(f.Queue)
		p := l.peers[src.Addr()]
		d := f.Data
		if p != nil && int(p.l2Len) == n && p.queue == int32(f.Queue) &&
			[6]byte(p.l2[0:6]) == [6]byte(d[6:12]) && [6]byte(p.l2[6:12]) == [6]byte(d[0:6]) &&
			string(p.l2[12:n]) == string(d[12:n]) {
			continue
		}
		if p == nil {
			if len(l.peers) >= l.maxP {
				clear(l.peers)
			}
			p = new(peer)
			l.peers[src.Addr()] = p
		}
		copy(p.l2[0:6], d[6:12])
		copy(p.l2[6:12], d[0:6])
		copy(p.l2[12:n], d[12:n])
		p.l2Len = uint8(n)
		p.queue = int32(f.Queue)
	}
}

// route returns the link header and queue for a packet to dst, from the
// flow to dport when seen, else from the peer's last frame.
func (l *Link) route(dst netip.AddrPort, l2 *[maxL2]byte) (n int, queue int, ok bool) {
	l.peerMu.RLock()
	defer l.peerMu.RUnlock()
	p := l.peers[dst.Addr()]
	if p == nil {
		return 0, 0, false
	}
	*l2 = p.l2
	queue = int(p.queue)
	if fe := &l.flows[flowIndex(dst)]; fe.remote == dst && fe.queue >= 0 {
		queue = int(fe.queue)
	}
	return int(p.l2Len), queue, true
}

// WritePackets implements stack.LinkWriter: each packet goes out as one
// Ethernet frame through the Sender. Packets to unknown peers, too big or
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

// writeOne builds and sends one frame. l.txMu held.
func (l *Link) writeOne(pkt *stack.PacketBuffer) tcpip.Error {
	size := pkt.Size()
	if size > maxMTU {
		l.txErrors.Add(1)
		return &tcpip.ErrMessageTooLong{}
	}
	// Copy the packet behind room for the longest link header.
	buf := l.txBuf[maxL2 : maxL2+size]
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
	var hdr [maxL2]byte
	hl, queue, ok := l.route(dst, &hdr)
	if !ok {
		l.txNoPeer.Add(1)
		return nil // like a NIC without a neighbour entry: dropped
	}
	frame := l.txBuf[maxL2-hl : maxL2+size]
	copy(frame, hdr[:hl])
	if err := l.tx.SendFrame(queue, frame); err != nil {
		l.txErrors.Add(1)
		if errors.Is(err, net.ErrClosed) {
			return &tcpip.ErrClosedForSend{}
		}
		return &tcpip.ErrNoBufferSpace{}
	}
	l.txPackets.Add(1)
	l.txBytes.Add(uint64(len(frame)))
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
