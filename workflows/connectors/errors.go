package connectors

import "errors"

// Errors of the factory. ErrUnknownType and ErrUnsupportedAction are
// permanent (wrapped in crm.ErrPermanent): the tenant config must change.
// ErrReplaced is transient: a retry gets the new connector.
var (
	// ErrReplaced: the tenant's definition changed while the call waited
	// for this instance; Factory.Connector returns the new one.
	ErrReplaced = errors.New("connector replaced by a new definition")
	// ErrUnknownType: no connector type of that name is registered.
	ErrUnknownType = errors.New("unknown connector type")
	// ErrUnsupportedAction: the connector cannot do the workflow's action.
	ErrUnsupportedAction = errors.New("action not supported by connector")
	// ErrNotCheckable: the connector type has no Check (Type.Check).
	ErrNotCheckable = errors.New("connector type cannot be checked before it is built")
)
