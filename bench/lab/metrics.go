package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrParse is returned (wrapped) when /proc text cannot be parsed.
var ErrParse = errors.New("lab: cannot parse")

// CPUTimes are the machine-wide CPU times of /proc/stat's "cpu" line, in
// clock ticks (USER_HZ).
type CPUTimes struct {
	// Busy is user + nice + system + irq + softirq + steal (guest time is
	// already part of user).
	Busy uint64
	// Idle is idle + iowait.
	Idle uint64
}

// UserHZ is the clock tick of /proc/stat on Linux (USER_HZ, 100 on every
// architecture Go supports).
const UserHZ = 100

// ParseProcStat reads the aggregate "cpu" line of /proc/stat.
func ParseProcStat(b []byte) (CPUTimes, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 5 {
			return CPUTimes{}, fmt.Errorf("%w /proc/stat: cpu line has %d fields", ErrParse, len(f))
		}
		var v [8]uint64 // user nice system idle iowait irq softirq steal
		for i := range v {
			if 1+i >= len(f) {
				break // older kernels: fewer columns, the rest is 0
			}
			n, err := strconv.ParseUint(f[1+i], 10, 64)
			if err != nil {
				return CPUTimes{}, fmt.Errorf("%w /proc/stat: cpu field %d %q", ErrParse, 1+i, f[1+i])
			}
			v[i] = n
		}
		return CPUTimes{
			Busy: v[0] + v[1] + v[2] + v[5] + v[6] + v[7],
			Idle: v[3] + v[4],
		}, nil
	}
	return CPUTimes{}, fmt.Errorf("%w /proc/stat: no cpu line", ErrParse)
}

// Sub returns t - u, field by field (u taken before t).
func (t CPUTimes) Sub(u CPUTimes) CPUTimes {
	return CPUTimes{Busy: t.Busy - u.Busy, Idle: t.Idle - u.Idle}
}

// BusyNanos is Busy in nanoseconds of CPU time.
func (t CPUTimes) BusyNanos() float64 { return float64(t.Busy) * 1e9 / UserHZ }

// BusyShare is Busy / (Busy + Idle): the share of the machine's CPUs that
// were busy, 0 when no time passed.
func (t CPUTimes) BusyShare() float64 {
	if t.Busy+t.Idle == 0 {
		return 0
	}
	return float64(t.Busy) / float64(t.Busy+t.Idle)
}

// ParseProcessStat returns a process's user + system CPU time, in clock
// ticks (USER_HZ), from /proc/PID/stat: fields 14 and 15, counted after
// the command name's closing parenthesis (the name may hold spaces and
// parentheses itself).
func ParseProcessStat(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w /proc/PID/stat: no command name", ErrParse)
	}
	// After the name: state (field 3), ... utime (14), stime (15).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%w /proc/PID/stat: %d fields after the name", ErrParse, len(f))
	}
	var t uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w /proc/PID/stat: cpu time %q", ErrParse, s)
		}
		t += n
	}
	return t, nil
}

// ParseSNMP returns the counters of one protocol section ("Udp", "Ip",
// ...) of /proc/net/snmp, whose sections are pairs of lines: names, then
// values, both starting with "Proto:".
func ParseSNMP(b []byte, proto string) (map[string]uint64, error) {
	prefix := proto + ":"
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != prefix {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		if len(f)-1 != len(names) {
			return nil, fmt.Errorf("%w snmp %s: %d names, %d values", ErrParse, proto, len(names), len(f)-1)
		}
		m := make(map[string]uint64, len(names))
		for i, s := range f[1:] {
			// Some counters (Ip Forwarding, Tcp MaxConn) may be
			// negative: keep them as 0.
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				if _, ierr := strconv.ParseInt(s, 10, 64); ierr != nil {
					return nil, fmt.Errorf("%w snmp %s %s: %q", ErrParse, proto, names[i], s)
				}
				n = 0
			}
			m[names[i]] = n
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w snmp: no %s section", ErrParse, proto)
}

// Moved compares which member each flow went to before and after a
// change (flows identified by any comparable key, members by a stable
// id). It returns the share of flows seen both times whose member changed,
// and how many flows were seen both times; share is 0 when none were.
func Moved[K comparable](before, after map[K]int) (share float64, common int) {
	var moved int
	for k, b := range before {
		a, ok := after[k]
		if !ok {
			continue
		}
		common++
		if a != b {
			moved++
		}
	}
	if common == 0 {
		return 0, 0
	}
	return float64(moved) / float64(common), common
}

// FlowOwners turns per-member records of the flows each member received
// (flow key -> packets) into flow -> member, the member that received the
// flow's most packets (the lowest index on a tie).
func FlowOwners[K comparable](perMember []map[K]uint32) map[K]int {
	owner := map[K]int{}
	best := map[K]uint32{}
	for m, flows := range perMember {
		for k, n := range flows {
			if n > best[k] {
				best[k], owner[k] = n, m
			}
		}
	}
	return owner
}

// CountUDPBound counts the sockets of /proc/net/udp (or udp6) text whose
// local port is port. Each line after the header has "sl local_address
// rem_address ...", the local address as HEX_ADDR:HEX_PORT.
func CountUDPBound(b []byte, port uint16) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	first := true
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if first {
			first = false
			if len(f) > 0 && f[0] == "sl" {
				continue
			}
		}
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			return 0, fmt.Errorf("%w /proc/net/udp: line %q", ErrParse, sc.Text())
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			return 0, fmt.Errorf("%w /proc/net/udp: local address %q", ErrParse, f[1])
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return 0, fmt.Errorf("%w /proc/net/udp: local port %q", ErrParse, hexPort)
		}
		if uint16(p) == port {
			n++
		}
	}
	return n, nil
}
