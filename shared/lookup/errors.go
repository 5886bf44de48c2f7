package lookup

import "errors"

// ErrTimeout: the index did not answer within the tenant's LookupTimeout
// (or the caller's deadline, if sooner). Dialects answer it like any index
// failure (503, App Connect's error envelope) and count it apart.
var ErrTimeout = errors.New("index did not answer in time")
