package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xdpmux/xdpmux/rxq"
)

// replayRSS resolves replay's -rss-iface and -indir: the indirection table
// to simulate (nil: the default i mod -queues) and the Toeplitz key (nil:
// -key or the default). -rss-iface IF takes both from IF's RSS as ethtool
// reports it (rxq.ReadRSS; the key only when IF hashes with Toeplitz);
// -indir, a comma-separated list of queues, overrides the table.
func replayRSS(iface, indir string) (table []uint32, key []byte, err error) {
	if iface != "" {
		info, err := rxq.ReadRSS(iface)
		if err != nil {
			return nil, nil, fmt.Errorf("-rss-iface %s: %w", iface, err)
		}
		if info.Toeplitz() && len(info.Key) > 0 {
			key = info.Key
		}
		table = info.Indir
	}
	if indir != "" {
		if table, err = parseIndir(indir); err != nil {
			return nil, nil, err
		}
	}
	return table, key, nil
}

// parseIndir parses -indir: queue numbers separated by commas.
func parseIndir(s string) ([]uint32, error) {
	fields := strings.Split(s, ",")
	table := make([]uint32, 0, len(fields))
	for _, f := range fields {
		q, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("-indir %q: %q is not a queue number", s, f)
		}
		table = append(table, uint32(q))
	}
	return table, nil
}

// indirQueues is the number of queues table needs: its largest entry + 1.
func indirQueues(table []uint32) int {
	info := rxq.RSSInfo{Indir: table}
	return info.IndirQueues()
}
