//go:build !linux

package main

import (
	"errors"
	"net"
)

func listenReusePort(addr string) (net.Listener, error) {
	return nil, errors.New("-kernel: SO_REUSEPORT sockets need Linux")
}

func isVeth(string) bool { return false }
