//go:build linux

package rxq

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ethtool netlink request attributes (enum ETHTOOL_A_HEADER_*).
const (
	ethtoolAHeaderDevName = 2
	ethtoolGenlVersion    = 1
)

// ReadRSS asks the kernel for the RSS configuration of the interface
// ifname, in the calling OS thread's network namespace: generic netlink
// family "ethtool", ETHTOOL_MSG_RSS_GET (what `ethtool -x IF` shows). A
// device without RSS (veth, whose driver has no get_rxfh) or a kernel
// without the request fails with an error wrapping ErrNotSupported; an
// unknown interface wraps ErrNoInterface.
func ReadRSS(ifname string) (RSSInfo, error) {
	fam, err := genlFamilyID(unix.ETHTOOL_GENL_NAME)
	if err != nil {
		return RSSInfo{}, fmt.Errorf("read rss of %s: genetlink family %q: %w", ifname, unix.ETHTOOL_GENL_NAME, rssErr(err))
	}
	req := nl.NewNetlinkRequest(int(fam), unix.NLM_F_REQUEST)
	req.AddData(genlHeader{unix.ETHTOOL_MSG_RSS_GET, ethtoolGenlVersion})
	hdr := nl.NewRtAttr(ethtoolARSSHeader|unix.NLA_F_NESTED, nil)
	hdr.AddRtAttr(ethtoolAHeaderDevName, nl.ZeroTerminated(ifname))
	req.AddData(hdr)
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return RSSInfo{}, fmt.Errorf("read rss of %s: %w", ifname, rssErr(err))
	}
	if len(msgs) != 1 {
		return RSSInfo{}, fmt.Errorf("read rss of %s: %w: %d replies", ifname, ErrBadRSSReply, len(msgs))
	}
	r, err := ParseRSSReply(msgs[0])
	if err != nil {
		return RSSInfo{}, fmt.Errorf("read rss of %s: %w", ifname, err)
	}
	return r, nil
}

// genlFamilyID asks the generic netlink controller for the ID of the
// family name. (netlink.GenlFamilyGet would do, but it serializes its
// header with nl.Genlmsg, below: a read past the struct that the race
// detector reports.)
func genlFamilyID(name string) (uint16, error) {
	req := nl.NewNetlinkRequest(unix.GENL_ID_CTRL, unix.NLM_F_REQUEST)
	req.AddData(genlHeader{unix.CTRL_CMD_GETFAMILY, ctrlGenlVersion})
	req.AddData(nl.NewRtAttr(unix.CTRL_ATTR_FAMILY_NAME, nl.ZeroTerminated(name)))
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return 0, err
	}
	if len(msgs) != 1 {
		return 0, fmt.Errorf("%w: %d replies", ErrBadRSSReply, len(msgs))
	}
	return parseFamilyID(msgs[0])
}

// ctrlGenlVersion is the generic netlink controller's version.
const ctrlGenlVersion = 2

// genlHeader is struct genlmsghdr: command, version and two reserved
// bytes, zero. (nl.Genlmsg serializes its 2-byte struct as 4 bytes read
// from memory, so the reserved bytes are garbage, which ethtool rejects
// with EINVAL.)
type genlHeader [4]byte

func (h genlHeader) Len() int          { return len(h) }
func (h genlHeader) Serialize() []byte { return h[:] }

// rssErr adds the project's sentinels to a netlink error.
func rssErr(err error) error {
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: %w", ErrNoInterface, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}
