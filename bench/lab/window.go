package lab

import (
	"time"

	"github.com/xdpmux/xdpmux/bench/fairness"
)

// sample is everything read at one end of a window.
type sample struct {
	t       time.Time
	cpu     CPUTimes
	self    time.Duration
	offered uint64
	drops   map[string]uint64
	members []uint64
}

// fillRun computes a Run's figures from the samples at both ends of its
// window.
func fillRun(run *Run, s0, s1 sample) {
	secs := s1.t.Sub(s0.t).Seconds()
	run.Seconds = secs
	var got uint64
	run.PerMember = make([]uint64, len(s1.members))
	for i := range s1.members {
		var before uint64
		if i < len(s0.members) {
			before = s0.members[i]
		}
		run.PerMember[i] = s1.members[i] - before
		got += run.PerMember[i]
	}
	run.DropsByReason = map[string]uint64{}
	for k, v := range s1.drops {
		d := v - s0.drops[k]
		if v < s0.drops[k] {
			d = 0
		}
		run.DropsByReason[k] = d
		run.Dropped += d
	}
	if secs > 0 {
		run.OfferedPPS = float64(s1.offered-s0.offered) / secs
		run.ReceivedPPS = float64(got) / secs
	}
	run.Jain = fairness.Jain(run.PerMember)
	cpu := s1.cpu.Sub(s0.cpu)
	run.CPUBusy = cpu.BusyShare()
	if secs > 0 {
		run.BusyNsPerSec = cpu.BusyNanos() / secs
	}
	if got > 0 {
		run.CPUNsPerPkt = cpu.BusyNanos() / float64(got)
		run.SelfCPUNsPerPkt = float64(s1.self-s0.self) / float64(got)
	}
}
