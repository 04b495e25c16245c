package netstackep

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Segmentation offload on transmit. A Link with GSO claims
// stack.HostGSOSupported: gVisor's TCP then hands it segments of up to
// GSOMaxSize bytes (the IP header's length fields cover the whole
// segment, the TCP checksum holds the pseudo-header sum only, as for a
// NIC's CHECKSUM_PARTIAL) and leaves the work a NIC's TSO would do to the
// Link: cut the payload into MSS-sized segments, give each its own IP
// length (and IPv4 ID, checksum), sequence number and flags, and compute
// every TCP checksum. One trip through the stack then carries up to 44
// frames' worth of data instead of one.
//
// The segments are built in place in the Link's copy of the packet:
// segment i's headers go into the bytes just before its payload, which
// belonged to segment i-1, already handed to the Sender (which copies).
// So it costs no copy beyond the one WritePackets always made.

// maxTCPHeaders bounds the IP and TCP headers of a GSO packet: a 60-byte
// IPv4 header (IPv6: 40) and a 60-byte TCP header.
const maxTCPHeaders = header.IPv4MaximumHeaderSize + header.TCPHeaderMaximumSize

const tcpFlagsFinPsh = byte(header.TCPFlagFin | header.TCPFlagPsh)

// segmenter holds the saved headers of the GSO packet being cut; the
// Link's txMu guards it.
type segmenter struct {
	hdr [maxTCPHeaders]byte
}

// tcpHeaders returns the length of pkt's IP header and of its IP and TCP
// headers together, for a TCP packet (IPv6: no extension headers).
func tcpHeaders(pkt []byte) (ipLen, hdrLen int, ok bool) {
	if len(pkt) == 0 {
		return 0, 0, false
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < header.IPv4MinimumSize || pkt[9] != byte(header.TCPProtocolNumber) {
			return 0, 0, false
		}
		ipLen = int(pkt[0]&0xf) * 4
		if ipLen < header.IPv4MinimumSize {
			return 0, 0, false
		}
	case 6:
		if len(pkt) < header.IPv6MinimumSize || pkt[6] != byte(header.TCPProtocolNumber) {
			return 0, 0, false
		}
		ipLen = header.IPv6MinimumSize
	default:
		return 0, 0, false
	}
	if len(pkt) < ipLen+header.TCPMinimumSize {
		return 0, 0, false
	}
	hdrLen = ipLen + int(pkt[ipLen+12]>>4)*4
	if hdrLen < ipLen+header.TCPMinimumSize || hdrLen > len(pkt) {
		return 0, 0, false
	}
	return ipLen, hdrLen, true
}

// finishSegment sets seg's IP length fields and computes its IPv4 header
// checksum and its TCP checksum (over the pseudo-header, the TCP header
// and the payload).
func finishSegment(seg []byte, ipLen int) {
	tcpLen := len(seg) - ipLen
	var xsum uint16
	if seg[0]>>4 == 4 {
		binary.BigEndian.PutUint16(seg[2:4], uint16(len(seg)))
		seg[10], seg[11] = 0, 0
		binary.BigEndian.PutUint16(seg[10:12], ^checksum.Checksum(seg[:ipLen], 0))
		xsum = checksum.Checksum(seg[12:20], 0)
	} else {
		binary.BigEndian.PutUint16(seg[4:6], uint16(tcpLen))
		xsum = checksum.Checksum(seg[8:40], 0)
	}
	xsum = checksum.Combine(xsum, uint16(header.TCPProtocolNumber))
	xsum = checksum.Combine(xsum, uint16(tcpLen))
	tcp := seg[ipLen:]
	tcp[16], tcp[17] = 0, 0
	binary.BigEndian.PutUint16(tcp[16:18], ^checksum.Checksum(tcp, xsum))
}

// writeSegments sends pkt, a TCP packet with a partial checksum from a
// stack that believes in segmentation offload, on queue as segments of at
// most mss payload bytes. It stops at the first error (TCP retransmits
// the rest). pkt is overwritten. l.txMu held.
func (l *Link) writeSegments(pkt []byte, mss, queue int) tcpip.Error {
	ipLen, hdrLen, ok := tcpHeaders(pkt)
	if !ok || hdrLen > maxTCPHeaders {
		l.txErrors.Add(1)
		return &tcpip.ErrMalformedHeader{}
	}
	payload := len(pkt) - hdrLen
	if mss <= 0 || payload <= mss {
		finishSegment(pkt, ipLen)
		return l.sendIP(queue, pkt)
	}
	if mss < hdrLen {
		// The headers would not fit into the previous segment's payload.
		l.txErrors.Add(1)
		return &tcpip.ErrMalformedHeader{}
	}
	hdr := l.seg.hdr[:hdrLen]
	copy(hdr, pkt[:hdrLen])
	v4 := pkt[0]>>4 == 4
	id := binary.BigEndian.Uint16(hdr[4:6])
	seq := binary.BigEndian.Uint32(hdr[ipLen+4 : ipLen+8])
	flags := hdr[ipLen+13]
	n := 0
	for off := 0; off < payload; off += mss {
		size := min(mss, payload-off)
		seg := pkt[off : off+hdrLen+size]
		copy(seg, hdr)
		if v4 {
			binary.BigEndian.PutUint16(seg[4:6], id+uint16(n))
		}
		tcp := seg[ipLen:]
		binary.BigEndian.PutUint32(tcp[4:8], seq+uint32(off))
		f := flags
		if off+size < payload {
			f &^= tcpFlagsFinPsh // FIN and PSH on the last segment only
		}
		if off > 0 {
			f &^= byte(header.TCPFlagCwr) // CWR on the first only
		}
		tcp[13] = f
		finishSegment(seg, ipLen)
		if err := l.sendIP(queue, seg); err != nil {
			return err
		}
		n++
	}
	l.txGSO.Add(1)
	return nil
}
