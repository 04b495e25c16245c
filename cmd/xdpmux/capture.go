package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// errTruncatedCapture is returned after the last whole record of a capture
// that ends inside a record.
var errTruncatedCapture = errors.New("ends inside a record")

// capture reads frames from a pcap or pcapng file. It first walks the
// file's record (block) lengths to find where the last whole record ends,
// so that a truncated capture yields every whole record and then a clear
// error, whatever the underlying reader makes of a short read.
type capture struct {
	f        *os.File
	name     string
	next     func() ([]byte, layers.LinkType, error)
	valid    int64 // bytes up to the end of the last whole record
	size     int64
	ethFrame []byte // scratch for link types that carry no Ethernet header
}

const (
	pcapMagicMicro   = 0xa1b2c3d4
	pcapMagicNano    = 0xa1b23c4d
	pcapngBlockMagic = 0x0a0d0d0a
	pcapngBOM        = 0x1a2b3c4d
)

func openCapture(name string) (*capture, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", name, err)
	}
	c := &capture{f: f, name: name}
	if err := c.open(); err != nil {
		f.Close()
		return nil, fmt.Errorf("capture %s: %w", name, err)
	}
	return c, nil
}

func (c *capture) open() error {
	st, err := c.f.Stat()
	if err != nil {
		return err
	}
	c.size = st.Size()
	var magic [4]byte
	if _, err := c.f.ReadAt(magic[:], 0); err != nil {
		return fmt.Errorf("not a pcap or pcapng file: too short (%d bytes)", c.size)
	}
	le, be := binary.LittleEndian.Uint32(magic[:]), binary.BigEndian.Uint32(magic[:])
	switch {
	case le == pcapngBlockMagic:
		c.valid, err = c.walkPcapng()
		if err != nil {
			return err
		}
		r, err := pcapgo.NewNgReader(io.NewSectionReader(c.f, 0, c.valid), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return fmt.Errorf("pcapng: %w", err)
		}
		c.next = func() ([]byte, layers.LinkType, error) {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				return nil, 0, err
			}
			lt := r.LinkType()
			if len(ci.AncillaryData) > 0 {
				if t, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					lt = t
				}
			}
			return data, lt, nil
		}
	case le == pcapMagicMicro || le == pcapMagicNano || be == pcapMagicMicro || be == pcapMagicNano:
		var order binary.ByteOrder = binary.LittleEndian
		if be == pcapMagicMicro || be == pcapMagicNano {
			order = binary.BigEndian
		}
		c.valid = c.walkPcap(order)
		r, err := pcapgo.NewReader(io.NewSectionReader(c.f, 0, c.valid))
		if err != nil {
			return fmt.Errorf("pcap header: %w", err)
		}
		c.next = func() ([]byte, layers.LinkType, error) {
			data, _, err := r.ReadPacketData()
			return data, r.LinkType(), err
		}
	default:
		return fmt.Errorf("not a pcap or pcapng file (magic %08x)", be)
	}
	return nil
}

// walkPcap returns the offset just past the last whole record.
func (c *capture) walkPcap(order binary.ByteOrder) int64 {
	const fileHeader, recordHeader = 24, 16
	if c.size < fileHeader {
		return c.size // pcapgo reports the short header
	}
	off := int64(fileHeader)
	var hdr [recordHeader]byte
	for off < c.size {
		if c.size-off < recordHeader {
			return off
		}
		if _, err := c.f.ReadAt(hdr[:], off); err != nil {
			return off
		}
		capLen := int64(order.Uint32(hdr[8:12]))
		if off+recordHeader+capLen > c.size {
			return off
		}
		off += recordHeader + capLen
	}
	return off
}

// walkPcapng returns the offset just past the last whole block.
func (c *capture) walkPcapng() (int64, error) {
	var order binary.ByteOrder = binary.LittleEndian
	off := int64(0)
	var hdr [12]byte
	for off < c.size {
		if c.size-off < 12 {
			return off, nil
		}
		if _, err := c.f.ReadAt(hdr[:], off); err != nil {
			return off, nil
		}
		if binary.LittleEndian.Uint32(hdr[0:4]) == pcapngBlockMagic {
			switch {
			case binary.LittleEndian.Uint32(hdr[8:12]) == pcapngBOM:
				order = binary.LittleEndian
			case binary.BigEndian.Uint32(hdr[8:12]) == pcapngBOM:
				order = binary.BigEndian
			default:
				return 0, fmt.Errorf("pcapng: bad byte-order magic at byte %d", off+8)
			}
		}
		length := int64(order.Uint32(hdr[4:8]))
		if length < 12 || length%4 != 0 {
			return 0, fmt.Errorf("pcapng: bad block length %d at byte %d", length, off+4)
		}
		if off+length > c.size {
			return off, nil
		}
		off += length
	}
	return off, nil
}

// Next returns the next frame as an Ethernet frame, io.EOF at the clean end,
// or errTruncatedCapture after the last whole record of a truncated file.
func (c *capture) Next() ([]byte, error) {
	data, lt, err := c.next()
	if err == io.EOF {
		if c.valid < c.size {
			return nil, fmt.Errorf("capture %s: %w at byte %d of %d", c.name, errTruncatedCapture, c.valid, c.size)
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", c.name, err)
	}
	switch lt {
	case layers.LinkTypeEthernet:
		return data, nil
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		// Raw IP: the version nibble says which.
		etherType := uint16(0)
		if len(data) > 0 {
			switch data[0] >> 4 {
			case 4:
				etherType = 0x0800
			case 6:
				etherType = 0x86dd
			}
		}
		return c.withEthernet(etherType, data), nil
	case layers.LinkTypeLinuxSLL: // tcpdump -i any: 16-byte header, protocol at 14
		if len(data) < 16 {
			return c.withEthernet(0, nil), nil // the parser counts it as malformed
		}
		return c.withEthernet(binary.BigEndian.Uint16(data[14:16]), data[16:]), nil
	}
	return nil, fmt.Errorf("capture %s: unsupported link type %s (%d)", c.name, lt, int(lt))
}

// withEthernet gives the parser the Ethernet header it expects in front of a
// frame captured without one. Replay only: the workers always see Ethernet.
func (c *capture) withEthernet(etherType uint16, payload []byte) []byte {
	var macs [12]byte
	c.ethFrame = append(c.ethFrame[:0], macs[:]...)
	c.ethFrame = binary.BigEndian.AppendUint16(c.ethFrame, etherType)
	return append(c.ethFrame, payload...)
}

func (c *capture) Close() error { return c.f.Close() }
