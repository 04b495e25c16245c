package pcb

import (
	"fmt"

	"github.com/xdpmux/xdpmux/localgroup"
)

// ChangeOp is the kind of a Change.
type ChangeOp uint8

const (
	OpBind            ChangeOp = iota + 1 // Bind(ID, Spec)
	OpUnbind                              // Unbind(ID)
	OpSetPolicy                           // SetPolicy(Policy)
	OpSetReuseportExt                     // SetReuseportExt(Proto, On)
)

func (op ChangeOp) String() string {
	switch op {
	case OpBind:
		return "bind"
	case OpUnbind:
		return "unbind"
	case OpSetPolicy:
		return "set-policy"
	case OpSetReuseportExt:
		return "set-reuseport-ext"
	}
	return fmt.Sprintf("op(%d)", uint8(op))
}

// Change carries one control-plane change to every copy of a table. Only the
// fields of its Op are used.
type Change struct {
	Op     ChangeOp
	ID     EndpointID
	Spec   Spec
	Policy localgroup.Policy
	Proto  Proto
	On     bool
}

// Apply applies c to t by calling the method its Op names.
func (t *Table) Apply(c Change) error {
	switch c.Op {
	case OpBind:
		return t.Bind(c.ID, c.Spec)
	case OpUnbind:
		return t.Unbind(c.ID)
	case OpSetPolicy:
		if !c.Policy.Valid() {
			return fmt.Errorf("%w: %v", ErrInvalidChange, c.Policy)
		}
		t.SetPolicy(c.Policy)
		return nil
	case OpSetReuseportExt:
		t.SetReuseportExt(c.Proto, c.On)
		return nil
	}
	return fmt.Errorf("%w: %v", ErrInvalidChange, c.Op)
}
