//go:build linux && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64)

package xdpprog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Handover returns the program's state and its descriptors (HandoverFDs of
// them, in that order) for Adopt in another process, which receives them
// over SCM_RIGHTS. The descriptors stay this Program's: the kernel gives
// the receiver its own. The link is not detached while any process holds
// it, so once the other process has adopted the program this one may
// Close it (closing only its own descriptors) and exit without the
// interface ever being without the program. It must not Unregister or
// Unclaim what the other process now serves.
func (p *Program) Handover() (State, []int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return State{}, nil, fmt.Errorf("hand over xdp program: %w", ErrClosed)
	}
	if p.link == nil {
		return State{}, nil, fmt.Errorf("hand over xdp program: no link: %w", ErrNotSupported)
	}
	lfd, ok := p.link.(interface{ FD() int })
	if !ok {
		return State{}, nil, fmt.Errorf("hand over xdp program: link without a descriptor: %w", ErrNotSupported)
	}
	st := State{Ifindex: p.ifindex, Mode: p.mode, MAC: append(net.HardwareAddr(nil), p.mac...), Flags: p.flags, NICHash: p.nicHash}
	fds := []int{lfd.FD(), p.objs.Xdpmux.FD(),
		p.objs.Claimed.FD(), p.objs.Config.FD(), p.objs.Counters.FD(), p.objs.Xsks.FD()}
	return st, fds, nil
}

// Adopt builds a Program over descriptors received from Handover: the
// program stays attached through the same bpf_link, with its maps (claims,
// registered sockets, counters) as they are. It takes the descriptors,
// closing them on error too.
func Adopt(st State, fds []int) (_ *Program, err error) {
	if len(fds) != HandoverFDs {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("adopt xdp program: %d descriptors, want %d", len(fds), HandoverFDs)
	}
	objs := new(xdpmuxObjects)
	var l link.Link
	taken := 0
	defer func() {
		if err == nil {
			return
		}
		for _, fd := range fds[taken:] {
			unix.Close(fd)
		}
		if l != nil {
			l.Close()
		}
		objs.Close()
	}()
	if l, err = link.NewFromFD(fds[0]); err != nil {
		return nil, fmt.Errorf("adopt xdp link: %w", err)
	}
	taken++
	if objs.Xdpmux, err = ebpf.NewProgramFromFD(fds[1]); err != nil {
		return nil, fmt.Errorf("adopt xdp program: %w", err)
	}
	taken++
	for _, m := range []**ebpf.Map{&objs.Claimed, &objs.Config, &objs.Counters, &objs.Xsks} {
		if *m, err = ebpf.NewMapFromFD(fds[taken]); err != nil {
			return nil, fmt.Errorf("adopt xdp map: %w", err)
		}
		taken++
	}
	if len(st.MAC) != 6 || st.Ifindex <= 0 {
		return nil, fmt.Errorf("adopt xdp program: bad state (ifindex %d, mac %q)", st.Ifindex, st.MAC)
	}
	return &Program{objs: objs, link: l, mode: st.Mode, ifindex: st.Ifindex,
		mac: append(net.HardwareAddr(nil), st.MAC...), flags: st.Flags, nicHash: st.NICHash}, nil
}

// Claims lists the claimed map: what the program redirects. A process
// that adopted the program removes with Unclaim what it does not serve.
func (p *Program) Claims() ([]Claim, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.objs == nil {
		return nil, fmt.Errorf("list claims: %w", ErrClosed)
	}
	var (
		k   xdpmuxClaimKey
		v   uint8
		out []Claim
	)
	it := p.objs.Claimed.Iterate()
	for it.Next(&k, &v) {
		out = append(out, claimOfKey(k))
	}
	if err := it.Err(); err != nil && !errors.Is(err, ebpf.ErrIterationAborted) {
		return nil, fmt.Errorf("list claims: %w", err)
	}
	return out, nil
}

// claimOfKey decodes a claimed map key (claimKey's inverse).
func claimOfKey(k xdpmuxClaimKey) Claim {
	var a [16]byte
	for i, w := range k.Addr {
		binary.NativeEndian.PutUint32(a[4*i:], w)
	}
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], k.Port)
	c := Claim{Proto: k.Proto, Port: binary.BigEndian.Uint16(b[:])}
	if k.Family == familyIPv4 {
		c.Addr = netip.AddrFrom4([4]byte(a[:4]))
	} else {
		c.Addr = netip.AddrFrom16(a)
	}
	return c
}
