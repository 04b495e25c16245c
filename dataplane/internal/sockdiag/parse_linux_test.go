//go:build linux

package sockdiag

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// diagMsg builds an inet_diag_msg as the kernel lays it out, with an
// INET_DIAG_SKV6ONLY attribute when v6only >= 0.
func diagMsg(fam, state uint8, local, remote netip.AddrPort, uid, inode uint32, v6only int) []byte {
	m := make([]byte, sizeofDiagMsg)
	m[0], m[1] = fam, state
	binary.BigEndian.PutUint16(m[4:], local.Port())
	binary.BigEndian.PutUint16(m[6:], remote.Port())
	la, ra := local.Addr().As16(), remote.Addr().As16()
	if fam == unix.AF_INET {
		a4, b4 := local.Addr().As4(), remote.Addr().As4()
		copy(m[8:], a4[:])
		copy(m[24:], b4[:])
	} else {
		copy(m[8:], la[:])
		copy(m[24:], ra[:])
	}
	binary.NativeEndian.PutUint32(m[64:], uid)
	binary.NativeEndian.PutUint32(m[68:], inode)
	if v6only >= 0 {
		attr := make([]byte, 8) // rtattr header (4) + 1 byte, padded to 8
		binary.NativeEndian.PutUint16(attr[0:], 5)
		binary.NativeEndian.PutUint16(attr[2:], attrV6Only)
		attr[4] = byte(v6only)
		m = append(m, attr...)
	}
	return m
}

func TestParseMsg(t *testing.T) {
	l4 := netip.MustParseAddrPort("198.18.0.2:53")
	r4 := netip.MustParseAddrPort("198.18.0.1:40000")
	l6 := netip.MustParseAddrPort("[::]:443")
	for _, tc := range []struct {
		name string
		msg  []byte
		want Socket
		bad  bool
	}{
		{"udp4", diagMsg(unix.AF_INET, 7, l4, r4, 1000, 42, -1), Socket{Proto: unix.IPPROTO_UDP, State: 7, Local: l4, Remote: r4, UID: 1000, Inode: 42}, false},
		{"tcp6 v6only", diagMsg(unix.AF_INET6, 10, l6, netip.AddrPortFrom(netip.IPv6Unspecified(), 0), 0, 7, 1),
			Socket{Proto: unix.IPPROTO_UDP, IPv6: true, State: 10, Local: l6, Remote: netip.AddrPortFrom(netip.IPv6Unspecified(), 0), Inode: 7, V6Only: true}, false},
		{"short", make([]byte, sizeofDiagMsg-1), Socket{}, true},
	} {
		got, err := parseMsg(tc.msg, unix.IPPROTO_UDP)
		if (err != nil) != tc.bad {
			t.Errorf("%s: err %v, want bad %v", tc.name, err, tc.bad)
			continue
		}
		if !tc.bad && got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// FuzzParseMsg: whatever the netlink socket hands over, parseMsg returns
// a socket or an error, and never panics.
func FuzzParseMsg(f *testing.F) {
	f.Add(diagMsg(unix.AF_INET, 7, netip.MustParseAddrPort("198.18.0.2:53"), netip.MustParseAddrPort("198.18.0.1:1"), 1, 2, -1))
	f.Add(diagMsg(unix.AF_INET6, 10, netip.MustParseAddrPort("[2001:2::1]:443"), netip.MustParseAddrPort("[::]:0"), 0, 0, 0))
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := parseMsg(msg, unix.IPPROTO_TCP)
		if err == nil && (!s.Local.IsValid() || !s.Remote.IsValid()) {
			t.Fatalf("parsed %+v from % x with invalid addresses", s, msg)
		}
	})
}
