// Command xdpmux is the userspace packet dataplane's program: it replays
// captures through the dataplane's per-packet logic, and (on Linux, as
// root) serves endpoints on NIC queues through AF_XDP.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `xdpmux: SO_REUSEPORT load distribution on AF_XDP queues

usage: xdpmux COMMAND [flags]

commands:
  replay   run the dataplane's per-packet logic on a pcap/pcapng capture (no root)
  run      attach to an interface's queues and serve endpoints (root)
  stats    show the counters of a running 'xdpmux run' (control socket)
  demo     build a veth lab, run the dataplane on it with a live per-queue/per-member view (root)
  gen      send pktgen-style UDP test traffic on an interface (root)
  help     show this text

Run 'xdpmux COMMAND -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "replay":
		return cmdReplay(args[1:], stdout, stderr)
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "stats":
		return cmdStats(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "gen":
		return cmdGen(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "xdpmux: unknown command %q (see xdpmux help)\n", args[0])
	return 2
}
