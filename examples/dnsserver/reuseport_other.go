//go:build !linux

package main

import (
	"errors"
	"net"
)

func listenReusePort(addr string) (net.PacketConn, error) {
	return nil, errors.New("-kernel: SO_REUSEPORT sockets need Linux")
}
