// Package tenantcheck checks a tenants file for everything Calldex would
// refuse or dead-letter once running, before anything runs: the rules of
// shared/tenant, and beside them every connector built through
// workflows/connectors' own option parsers (without connecting anywhere),
// each workflow's action against what its connector can do, the fallback
// sources' phone search, and the App Connect options. `calldexctl config
// check` reports its problems; the services load their tenants through
// Load, so that a file the check passes is one they accept.
package tenantcheck
