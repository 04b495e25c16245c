//go:build linux

package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xdpmux/xdpmux/dataplane/internal/sockdiag"
	"github.com/xdpmux/xdpmux/pcb"
)

// nsView is what OpenInterface keeps of the interface's network namespace,
// all opened at open time so that binds and address changes later handled
// on goroutines outside the namespace still see it: the namespace handle,
// a route netlink handle (addresses), a sock_diag socket (kernel sockets)
// and the address subscription.
type nsView struct {
	ns    netns.NsHandle
	route *netlink.Handle
	diag  *sockdiag.Conn

	done chan struct{} // closed to stop the subscription
	wg   sync.WaitGroup

	errMu   sync.Mutex
	lastErr error // of the address watcher
}

// openNSView opens the calling thread's network namespace.
func openNSView() (_ *nsView, err error) {
	v := &nsView{ns: -1, done: make(chan struct{})}
	defer func() {
		if err != nil {
			v.close()
		}
	}()
	if v.ns, err = netns.Get(); err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	if v.route, err = netlink.NewHandleAt(v.ns, unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("route netlink socket: %w", err)
	}
	if v.diag, err = sockdiag.Open(v.ns); err != nil {
		return nil, err
	}
	return v, nil
}

// addrs lists every address of the namespace (all interfaces: the weak host
// model, what a kernel socket bound to a wildcard receives for).
func (v *nsView) addrs() ([]netip.Addr, error) {
	list, err := v.route.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(list))
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return normalizeAddrs(out), nil
}

// subscribe starts the address subscription in the namespace. Updates wait
// in the returned channel until watch reads them.
func (v *nsView) subscribe() (chan netlink.AddrUpdate, error) {
	ch := make(chan netlink.AddrUpdate, 64)
	err := netlink.AddrSubscribeWithOptions(ch, v.done, netlink.AddrSubscribeOptions{
		Namespace:         &v.ns,
		ErrorCallback:     v.setErr,
		ReceiveBufferSize: 1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to address changes: %w", err)
	}
	return ch, nil
}

func (v *nsView) setErr(err error) {
	v.errMu.Lock()
	v.lastErr = err
	v.errMu.Unlock()
}

// err returns the address watcher's last error.
func (v *nsView) err() error {
	v.errMu.Lock()
	defer v.errMu.Unlock()
	return v.lastErr
}

// watch calls d.SetLocalAddrs with the namespace's addresses after every
// change (several changes waiting are read at once), until stop. When the
// subscription ends on its own (a receive error such as ENOBUFS), it
// subscribes again and lists the addresses afresh.
func (v *nsView) watch(d *Dataplane, ch chan netlink.AddrUpdate) {
	v.wg.Go(func() {
		for {
			_, ok := <-ch
			if !ok {
				select {
				case <-v.done:
					return
				default:
				}
				var err error
				if ch, err = v.subscribe(); err != nil {
					v.setErr(err)
					return
				}
			}
			for drained := false; !drained; {
				select {
				case _, ok := <-ch:
					if !ok {
						drained = true
					}
				default:
					drained = true
				}
			}
			addrs, err := v.addrs()
			if err == nil {
				err = d.SetLocalAddrs(addrs)
			}
			if err != nil && !errors.Is(err, ErrClosed) {
				v.setErr(err)
			}
		}
	})
}

// stop ends the subscription and waits for the watcher.
func (v *nsView) stop() {
	select {
	case <-v.done:
	default:
		close(v.done)
	}
	v.wg.Wait()
}

// close stops the watcher and closes every handle.
func (v *nsView) close() {
	v.stop()
	if v.diag != nil {
		v.diag.Close()
	}
	if v.route != nil {
		v.route.Close()
	}
	if v.ns >= 0 {
		v.ns.Close()
	}
}

// unprivilegedPortStart reads ip_unprivileged_port_start of the calling
// thread's namespace (/proc/sys/net follows the thread's namespace).
func unprivilegedPortStart() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("ip_unprivileged_port_start %q: %w", b, err)
	}
	return n, nil
}

// diagSockets is the KernelSockets of an Interface: the sock_diag socket
// opened in its namespace.
type diagSockets struct{ c *sockdiag.Conn }

var _ KernelSockets = diagSockets{}

// Sockets lists the kernel sockets on port. A TCP socket in TIME-WAIT is
// left out: it holds no port against a bind with SO_REUSEADDR (which Go's
// listeners set), and the XDP program passes its segments to the kernel.
func (k diagSockets) Sockets(proto pcb.Proto, port uint16) ([]KernelSocket, error) {
	socks, err := k.c.Sockets(uint8(proto), port)
	if err != nil {
		return nil, err
	}
	out := make([]KernelSocket, 0, len(socks))
	for _, s := range socks {
		if proto == pcb.TCP && sockdiag.TimeWait(s.State) {
			continue
		}
		out = append(out, KernelSocket{
			Proto:  proto,
			Local:  s.Local,
			Remote: s.Remote,
			IPv6:   s.IPv6,
			V6Only: s.V6Only,
			State:  sockdiag.StateName(uint8(proto), s.State),
			UID:    s.UID,
			Inode:  s.Inode,
		})
	}
	return out, nil
}
