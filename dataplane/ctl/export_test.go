package ctl

import "net"

// ServeAcceptor is Serve on anything with AcceptUnix and Close, for tests
// that inject accept errors.
func (s *Server) ServeAcceptor(l interface {
	AcceptUnix() (*net.UnixConn, error)
	Close() error
}) error {
	return s.serve(l)
}
