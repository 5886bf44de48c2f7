package ingress

import (
	"net/http"
)

// Dialect names, as used in metrics and call.lookup events.
const (
	dialectPeoplefone   = "peoplefone"
	dialectPeoplefoneV1 = "peoplefone_v1"
	dialectPBX          = "pbx"
)

// lookupFailed answers a lookup whose index failed: 503, so the phone system
// shows "unknown" at once instead of waiting for its timeout.
func lookupFailed(w http.ResponseWriter) {
	writeError(w, http.StatusServiceUnavailable, "index_unavailable", "the contact index is not reachable")
}
