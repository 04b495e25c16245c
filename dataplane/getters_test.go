package dataplane

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/xdpmux/xdpmux/localgroup"
)

// TestGettersDuringChurn runs every getter in a loop while another
// goroutine binds, closes, re-polices and re-addresses: under -race it
// fails if a change edits the state the getters read without stateMu, and
// it checks that what they answer is consistent with some moment of the
// churn.
func TestGettersDuringChurn(t *testing.T) {
	a1, a2 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	l := newLab(t, 2, txOpts(), Config{LocalAddrs: []netip.Addr{a1}})
	if err := l.d.Start(); err != nil {
		t.Fatal(err)
	}
	anchor := l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := len(l.d.Stats().Endpoints); n < 1 || n > 3 {
				bad = append(bad, "Stats: endpoints out of range")
			}
			if m := l.d.GroupMembers(anchor); len(m) < 1 || len(m) > 2 {
				bad = append(bad, "GroupMembers: members out of range")
			}
			if n := len(l.d.LocalAddrs()); n != 1 && n != 2 {
				bad = append(bad, "LocalAddrs: wrong count")
			}
			if len(l.d.Claims()) < 1 {
				bad = append(bad, "Claims: the anchor's claim is missing")
			}
			if _, ok := anchor.ServerID(); !ok {
				bad = append(bad, "ServerID: the anchor has none")
			}
			_ = l.d.Policy()
			_ = anchor.QUICLayout()
		}
	}()
	policies := []localgroup.Policy{localgroup.Threshold, localgroup.Modulo, localgroup.Maglev}
	for i := range 200 {
		member := l.bind(udpSpec("0.0.0.0:53", true), EndpointOptions{})
		other := l.bind(udpSpec("198.18.0.1:54", false), EndpointOptions{})
		if err := l.d.SetPolicy(policies[i%len(policies)]); err != nil {
			t.Fatal(err)
		}
		addrs := []netip.Addr{a1}
		if i%2 == 1 {
			addrs = append(addrs, a2)
		}
		if err := l.d.SetLocalAddrs(addrs); err != nil {
			t.Fatal(err)
		}
		if err := member.Close(); err != nil {
			t.Fatal(err)
		}
		if err := other.Close(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d inconsistent answers, first: %s", len(bad), bad[0])
	}
}
