package app

import (
	"fmt"
	"slices"
	"strings"
)

// Role is a part of Calldex that a process runs. One binary runs any set of
// them: all together is the embedded default, one per process the
// production split.
type Role string

// The roles, in the order they start.
const (
	// RoleProjector writes CONTACTS into the index. Run one per Redis
	// index (more are harmless but redundant); the in-process index needs
	// it in the same process as the ingress.
	RoleProjector Role = "projector"
	// RoleSync polls CRMs and SQL sources into CONTACTS; any number of
	// replicas share the sources through leases.
	RoleSync Role = "sync"
	// RoleWorker runs workflows from WORKFLOWS against CRMs; replicas share
	// one durable consumer.
	RoleWorker Role = "worker"
	// RoleIngress serves every dialect, the admin API, App Connect and CRM
	// webhooks; stateless, scaled out behind a load balancer.
	RoleIngress Role = "ingress"
)

var allRoles = []Role{RoleProjector, RoleSync, RoleWorker, RoleIngress}

// Roles is a set of roles; nil means all.
type Roles []Role

// ParseRoles reads a comma list; "" and "all" mean every role.
func ParseRoles(s string) (Roles, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return nil, nil
	}
	var rs Roles
	for f := range strings.SplitSeq(s, ",") {
		r := Role(strings.TrimSpace(f))
		if !slices.Contains(allRoles, r) {
			return nil, fmt.Errorf("unknown role %q (known: all, %s)", r, Roles(allRoles))
		}
		if !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	return rs, nil
}

// All reports whether every role runs.
func (rs Roles) All() bool {
	for _, r := range allRoles {
		if !rs.Has(r) {
			return false
		}
	}
	return true
}

// Has reports whether r runs.
func (rs Roles) Has(r Role) bool { return rs == nil || slices.Contains(rs, r) }

func (rs Roles) String() string {
	if rs == nil {
		return "all"
	}
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
