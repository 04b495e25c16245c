package cref

import (
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Source is csrc/rxdrop.c, the program Build compiles.
//
//go:embed csrc/rxdrop.c
var Source []byte

// ErrNoLibxdp is returned (wrapped) by Build when the C compiler or the
// libxdp/libbpf headers and libraries are missing.
var ErrNoLibxdp = errors.New("cref: no C compiler or no libxdp-dev/libbpf-dev (apt-get install libxdp-dev libbpf-dev)")

// ErrProtocol is returned (wrapped) for a line from the program that does
// not have the documented shape.
var ErrProtocol = errors.New("cref: bad counters line")

// Counters are the program's cumulative figures.
type Counters struct {
	// Packets received per queue.
	Packets []uint64
	// XDP_STATISTICS summed over the sockets.
	RxDropped, RxRingFull, RxInvalidDescs uint64
}

// ParseCounters parses one counters line of queues queues:
// "C <q0> <q1> ... D <rx_dropped> <rx_ring_full> <rx_invalid_descs>".
func ParseCounters(line string, queues int) (Counters, error) {
	f := strings.Fields(line)
	if len(f) != queues+5 || f[0] != "C" || f[queues+1] != "D" {
		return Counters{}, fmt.Errorf("%w: %q: want C and %d queue counts, D and 3 drop counts", ErrProtocol, line, queues)
	}
	num := func(s string) (uint64, error) {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q: %q is not a count", ErrProtocol, line, s)
		}
		return v, nil
	}
	c := Counters{Packets: make([]uint64, queues)}
	var err error
	for i := range queues {
		if c.Packets[i], err = num(f[1+i]); err != nil {
			return Counters{}, err
		}
	}
	d := f[queues+2:]
	for i, dst := range []*uint64{&c.RxDropped, &c.RxRingFull, &c.RxInvalidDescs} {
		if *dst, err = num(d[i]); err != nil {
			return Counters{}, err
		}
	}
	return c, nil
}
