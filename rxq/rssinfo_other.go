//go:build !linux

package rxq

import "fmt"

// ReadRSS fails with ErrNotSupported: ethtool netlink is Linux-only.
func ReadRSS(ifname string) (RSSInfo, error) {
	return RSSInfo{}, fmt.Errorf("read rss of %s: %w", ifname, ErrNotSupported)
}
