// Package peercred reads the credentials of the process at the other end of
// a unix socket (SO_PEERCRED). It is the one place of package ctl that makes
// a system call, as STYLE asks: the control socket uses it to learn which
// uid, hence which pcb.Owner, a client's endpoints are bound with.
package peercred
