package events

// TypeAdminAction is the type of an audit event.
const TypeAdminAction = "admin.action"

// NoTenant stands for "no single tenant" in an audit event's tenant and
// subject.
const NoTenant = "_"

// Ways an admin action is taken (AuditEntry.Via).
const (
	ViaAPI        = "api"
	ViaCalldexctl = "calldexctl"
)

// Outcomes of an admin action (AuditEntry.Outcome).
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused" // wrong or missing credential, throttled, address refused
	OutcomeFailed  = "failed"  // authorised, but it did not complete
)

// AuditEntry is the payload of an audit event (TypeAdminAction on AUDIT):
// who did what, when (the envelope's time), how it ended. It never holds a
// secret: the actor names the kind of credential, not its value, and
// arguments that carry credentials are left out.
type AuditEntry struct {
	// Actor is the credential used: "admin-token" (the admin API's bearer
	// token), "calldexctl:<user>@<host>", or "none" when the credential was
	// missing or wrong.
	Actor string `json:"actor"`
	// Via is ViaAPI or ViaCalldexctl.
	Via string `json:"via"`
	// Action is the route ("DELETE /admin/v1/tenants/{tenant}/contacts/{id}")
	// or the command ("calldexctl dlq redrive").
	Action string `json:"action"`
	// Target are the route's path values or the command's arguments and
	// flags.
	Target map[string]string `json:"target,omitempty"`
	// Outcome is OutcomeOK, OutcomeRefused or OutcomeFailed.
	Outcome string `json:"outcome"`
	// Status is the HTTP status answered (API).
	Status int `json:"status,omitempty"`
	// Error is why a command failed (calldexctl).
	Error string `json:"error,omitempty"`
	// Remote is the client address (API).
	Remote string `json:"remote,omitempty"`
}
