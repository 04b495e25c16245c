// Command ctlclient binds an endpoint on a running `xdpmux run` through its
// control socket and prints what arrives: the smallest program using the
// Go client of package dataplane/ctl. Run several copies with -reuseport
// as the same user to see the group share the traffic. With -reconnect
// it survives a restart or takeover of xdpmux run (kill -USR2): it
// reconnects, binds again, and goes on counting.
//
//	ctlclient -ctl /run/xdpmux/xdpmux.sock -reuseport udp/0.0.0.0:7000
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xdpmux/xdpmux/dataplane/ctl"
)

func main() {
	path := flag.String("ctl", ctl.DefaultPath, "control socket of xdpmux run")
	reuse := flag.Bool("reuseport", false, "join (or start) the port's reuseport group")
	quiet := flag.Bool("q", false, "print a summary every second instead of each frame")
	reconnect := flag.Bool("reconnect", false, "reconnect and bind again when xdpmux restarts or hands over (takeover)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: ctlclient [-ctl PATH] [-reuseport] [-reconnect] [-q] PROTO/ADDR:PORT")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ep, err := ctl.Listen(*path, flag.Arg(0), ctl.Options{ReusePort: *reuse, Reconnect: *reconnect})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ctlclient: %v\n", err)
		switch {
		case errors.Is(err, syscall.EACCES):
			fmt.Fprintln(os.Stderr, "ctlclient: the server refused the port to this user (ports below 1024 need CAP_NET_BIND_SERVICE)")
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			fmt.Fprintln(os.Stderr, "ctlclient: the address is not one of the interface's")
		case errors.Is(err, ctl.ErrLimit):
			fmt.Fprintln(os.Stderr, "ctlclient: this user is at one of the server's limits (connections, endpoints, ports)")
		}
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "ctlclient: bound %s (endpoint %d, %d queues)\n", ep.Name(), ep.ID(), ep.Queues())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; ep.Close() }()

	msgs := make([]ctl.Message, 64)
	var total, bytes, last uint64
	tick := time.Now()
	for {
		n, err := ep.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, ctl.ErrDisconnected) || (*reconnect && !errors.Is(err, net.ErrClosed)) {
				fmt.Fprintf(os.Stderr, "ctlclient: %v\n", err)
				fmt.Fprintf(os.Stderr, "ctlclient: %d frames, %d bytes\n", total, bytes)
				os.Exit(1)
			}
			break // closed by the signal
		}
		for _, m := range msgs[:n] {
			total++
			bytes += uint64(len(m.Payload))
			if !*quiet {
				fmt.Printf("%v -> %v queue %d hash %08x %d bytes %q\n", m.Src, m.Dst, m.Queue, m.Hash, len(m.Payload), trim(m.Payload))
			}
		}
		if *quiet && time.Since(tick) >= time.Second {
			fmt.Printf("%d frames (%.0f/s), %d bytes\n", total, float64(total-last)/time.Since(tick).Seconds(), bytes)
			last, tick = total, time.Now()
		}
	}
	if *reconnect {
		fmt.Fprintf(os.Stderr, "ctlclient: %d frames, %d bytes, %d reconnects\n", total, bytes, ep.Reconnects())
		return
	}
	fmt.Fprintf(os.Stderr, "ctlclient: %d frames, %d bytes\n", total, bytes)
}

func trim(p []byte) []byte {
	if len(p) > 32 {
		return p[:32]
	}
	return p
}
