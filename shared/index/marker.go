package index

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Mark is one check of a tenant generation's marker: a STRING in the
// tenant's slot (cdx:{acme}:seq, cdx:g7:{acme}:seq) holding the CONTACTS
// sequence the generation is known to hold every event of the tenant up
// to. Redis keeps or loses a slot's writes in order (replication and the
// AOF are both ordered), so a marker that survived means every write to
// the tenant before it did; a marker found lower than last set, or gone
// (a restart without persistence, a failover that lost writes, a flush),
// means the generation lost data from that sequence on.
type Mark struct {
	Tenant string
	// Gen is the generation ("" for the original keys).
	Gen string
	// Want is what the marker was last set to (0: never, anything goes).
	Want uint64
	// Next is set if the marker holds at least Want and less than Next.
	Next uint64
}

// markScript checks one marker and advances it if intact.
// KEYS: the marker. ARGV: want, next. Returns the value found (0 absent).
var markScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur >= tonumber(ARGV[1]) and tonumber(ARGV[2]) > cur then
  redis.call('SET', KEYS[1], ARGV[2])
end
return cur
`)

// CheckMarks runs the checks in one pipeline (on a Cluster, one per node)
// and returns the value each marker held before: below Want means the
// generation lost data after that sequence.
func (r *Redis) CheckMarks(ctx context.Context, marks []Mark) ([]uint64, error) {
	if len(marks) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.Cmd, len(marks))
	pipe := r.rdb.Pipeline()
	for i, m := range marks {
		if err := validTenant(m.Tenant); err != nil {
			return nil, fmt.Errorf("index marks: %w", err)
		}
		key := tenantKeys(r.tenantBase(m.Gen, m.Tenant)).mark()
		// EVAL, not EVALSHA: a Redis that restarted empty has no scripts,
		// and that is the case this is for.
		cmds[i] = markScript.Eval(ctx, pipe, []string{key}, m.Want, m.Next)
	}
	_, _ = pipe.Exec(ctx)
	out := make([]uint64, len(marks))
	for i, c := range cmds {
		v, err := c.Uint64()
		if err != nil {
			return nil, fmt.Errorf("index marks %s/%s: %w", marks[i].Tenant, marks[i].Gen, err)
		}
		out[i] = v
	}
	return out, nil
}
