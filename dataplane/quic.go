package dataplane

import "github.com/xdpmux/xdpmux/localgroup/quiclb"

// ServerID returns the endpoint's server ID in its local group, which the
// QUIC policy routes by (localgroup.Group.ServerID): a QUIC server on the
// endpoint writes it into every connection ID it issues, in the layout
// QUICLayout returns. The ID is assigned at Bind, the smallest number from
// 1 that no member of the group holds, and kept until the endpoint closes;
// a later member may then get it again. ok is false for an endpoint that
// is closed, not in a local group, or whose ID does not fit the layout.
func (e *Endpoint) ServerID() (sid uint32, ok bool) {
	d := e.d
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	return d.auth.ServerID(e.id)
}

// QUICLayout returns the connection ID layout of the dataplane's QUIC
// policy (pcb.Config.QUIC.LB), whatever the current policy.
func (e *Endpoint) QUICLayout() quiclb.Config {
	d := e.d
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	return d.auth.Config().QUIC.LB
}
