// Package appconnect makes Calldex a RingCentral App Connect connector
// server ("custom CRM server") for every CRM a tenant syncs: App Connect's
// client calls these routes, under /appconnect, and Calldex answers contact
// matches from its index and turns call and message logs into durable
// workflows.
//
// The HTTP contract is App Connect's own OpenAPI document of its connector
// server (shared/specs/appconnect-crm-server-openapi.json, kept unchanged in
// testdata/ for the contract tests), not the adapter function names of the
// developer guide: a lookup answers its matches in "contact", not
// "matchedContactInfo".
//
// Sessions: POST /apiKeyLogin exchanges a tenant credential for an HS256
// JWT ({id: tenant, platform, cred, jti, iat, exp}); every other route takes
// it as "Authorization: Bearer" or the legacy ?jwtToken=. A token is
// refused once revoked (POST /unAuthorize), once the credential it was
// issued for is removed from the tenant, or once the tenant is gone.
package appconnect
