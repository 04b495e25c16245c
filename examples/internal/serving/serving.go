package serving

import (
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// ParseQueues parses -queues: receive queue numbers, comma separated
// ("0,2"). "" is nil, which dataplane.InterfaceConfig reads as every
// queue.
func ParseQueues(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var queues []int
	for _, f := range strings.Split(s, ",") {
		q, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		queues = append(queues, q)
	}
	return queues, nil
}

// Wait serves until SIGINT or SIGTERM (it returns nil) or until an error
// arrives on failed (it returns that error). It catches the signals before
// it calls ready, which prints the line saying the server serves: a script
// or test that signals once it sees that line stops the server cleanly
// instead of killing it. Each signal in on, when it arrives, calls its
// function, and the wait goes on (httpserver's SIGUSR1 stops a member).
func Wait(ready func(), failed <-chan error, on map[os.Signal]func()) error {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	other := make(chan os.Signal, 1)
	for sig := range on {
		signal.Notify(other, sig)
	}
	defer signal.Stop(other)
	ready()
	for {
		select {
		case <-stop:
			return nil
		case err := <-failed:
			return err
		case sig := <-other:
			on[sig]()
		}
	}
}
