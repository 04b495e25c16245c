package main

import "github.com/vishvananda/netlink"

// isVeth reports whether ifname, in the calling OS thread's network
// namespace, is a veth device.
func isVeth(ifname string) bool {
	l, err := netlink.LinkByName(ifname)
	return err == nil && l.Type() == "veth"
}
