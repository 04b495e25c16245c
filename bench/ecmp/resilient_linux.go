//go:build linux

package ecmp

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// SetResilient switches the router between BIRD's multipath route (off)
// and a resilient nexthop group (on) that SyncResilient keeps equal to it.
func (l *Lab) SetResilient(on bool) error {
	r := l.RouterNS
	if !on {
		if !l.resilient {
			return nil
		}
		l.resilient = false
		return errors.Join(
			ip("-n", r, "rule", "del", "pref", strconv.Itoa(ResilientRulePref)),
			ip("-n", r, "route", "flush", "table", strconv.Itoa(ResilientTable)),
			ip("-n", r, "nexthop", "flush"),
		)
	}
	for _, h := range l.Hosts {
		if err := ip("-n", r, "nexthop", "replace", "id", strconv.Itoa(h.Index+1),
			"via", h.Addr.String(), "dev", h.RouterIf); err != nil {
			return err
		}
	}
	if err := l.SyncResilient(); err != nil {
		return err
	}
	l.resilient = true
	steps := [][]string{
		{"-n", r, "route", "replace", Service.String() + "/32", "nhid", strconv.Itoa(ResilientGroupID),
			"table", strconv.Itoa(ResilientTable)},
		{"-n", r, "rule", "add", "to", Service.String() + "/32", "lookup", strconv.Itoa(ResilientTable),
			"pref", strconv.Itoa(ResilientRulePref)},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

// SyncResilient sets the resilient group's members to the hosts of BIRD's
// multipath route. Replacing the members of a resilient group keeps every
// bucket of a member that stays where it is.
func (l *Lab) SyncResilient() error {
	hosts, err := l.RouterPaths()
	if err != nil {
		return err
	}
	if len(hosts) == 0 {
		return errors.New("ecmp: resilient group: no host announces the service")
	}
	ids := make([]string, len(hosts))
	for i, h := range hosts {
		ids[i] = strconv.Itoa(h + 1)
	}
	return ip("-n", l.RouterNS, "nexthop", "replace", "id", strconv.Itoa(ResilientGroupID),
		"group", strings.Join(ids, "/"), "type", "resilient",
		"buckets", strconv.Itoa(ResilientBuckets), "idle_timer", strconv.Itoa(ResilientIdle))
}

// RouterRoute returns `ip route show` of the router's routes to the
// service (main table, and the resilient table in resilient mode) and its
// nexthop objects, for logs.
func (l *Lab) RouterRoute() string {
	var b strings.Builder
	cmds := [][]string{{"-n", l.RouterNS, "route", "show", "table", "main", Service.String() + "/32"}}
	if l.resilient {
		cmds = append(cmds,
			[]string{"-n", l.RouterNS, "rule", "show", "pref", strconv.Itoa(ResilientRulePref)},
			[]string{"-n", l.RouterNS, "route", "show", "table", strconv.Itoa(ResilientTable)},
			[]string{"-n", l.RouterNS, "nexthop", "show"})
	}
	for _, args := range cmds {
		out, _ := exec.Command("ip", args...).CombinedOutput()
		if len(bytes.TrimSpace(out)) > 0 {
			fmt.Fprintf(&b, "$ ip %s\n%s", strings.Join(args[2:], " "), out)
		}
	}
	return b.String()
}
