package risk

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Store = (*Redis)(nil)

// Redis is the Store every process of a split shares. With prefix "cdx":
//
//	cdx:risk:{+41215522000}:c       HASH  "<bucket>:<field>" → count (fields c, h, f, a, s:
//	                                      calls, after hours, finished, answered, short)
//	cdx:risk:{+41215522000}:t:<b>   HLL   the tenants called in bucket b (hashes, not ids)
//	cdx:risk:{top}:<b>              ZSET  number → observations in bucket b, the MaxTop busiest
//
// A number's keys share its hash tag (one Redis Cluster slot), so that
// reading its Stats is one HGETALL and one PFCOUNT over its buckets; the
// top sets share theirs, so that Top is one ZUNION. Every key expires one
// bucket after the window leaves it; the record script also drops the stale
// fields of a number that keeps calling.
type Redis struct {
	rdb  redis.UniversalClient
	base string
	w    Window
}

// NewRedis returns a Store on rdb whose keys start with prefix (which must
// not contain '{' or '}').
func NewRedis(rdb redis.UniversalClient, prefix string, w Window) (*Redis, error) {
	w, err := w.withDefaults()
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("risk: redis prefix %q must not contain braces", prefix)
	}
	base := "risk:"
	if prefix != "" {
		base = prefix + ":risk:"
	}
	return &Redis{rdb: rdb, base: base, w: w}, nil
}

func (s *Redis) countsKey(number string) string { return s.base + "{" + number + "}:c" }
func (s *Redis) tenantsKey(number string, b int64) string {
	return s.base + "{" + number + "}:t:" + strconv.FormatInt(b, 10)
}
func (s *Redis) topKey(b int64) string { return s.base + "{top}:" + strconv.FormatInt(b, 10) }

// recordScript adds one bucket's counts of a number and its tenants.
// KEYS: counts hash, tenants HLL. ARGV: bucket, oldest live bucket, ttl
// seconds, the most fields the hash needs, then calls, after hours,
// finished, answered, short, then the tenants. Stale fields go once the
// hash holds more than the window needs.
var recordScript = redis.NewScript(`
local b = ARGV[1]
local names = {'c', 'h', 'f', 'a', 's'}
for i, name in ipairs(names) do
  local n = tonumber(ARGV[4 + i])
  if n > 0 then redis.call('HINCRBY', KEYS[1], b .. ':' .. name, n) end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if #ARGV > 9 then
  redis.call('PFADD', KEYS[2], unpack(ARGV, 10))
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
if redis.call('HLEN', KEYS[1]) > tonumber(ARGV[4]) then
  local oldest = tonumber(ARGV[2])
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    local fb = tonumber(string.match(f, '^(%d+):'))
    if fb == nil or fb < oldest then redis.call('HDEL', KEYS[1], f) end
  end
end
return 0
`)

type groupKey struct {
	number string
	bucket int64
}

type group struct {
	counts  counts
	tenants map[string]struct{}
}

// Record implements Store: the observations are grouped by number and
// bucket, then written in one pipeline.
func (s *Redis) Record(ctx context.Context, obs []Observation) error {
	cur := s.w.bucket(s.w.Now())
	groups := map[groupKey]*group{}
	var order []groupKey
	for _, o := range obs {
		b := s.w.bucket(o.At)
		if !s.w.live(b, cur) {
			continue
		}
		k := groupKey{o.Number, b}
		g := groups[k]
		if g == nil {
			g = &group{tenants: map[string]struct{}{}}
			groups[k] = g
			order = append(order, k)
		}
		g.counts.add(o)
		g.tenants[o.Tenant] = struct{}{}
	}
	if len(order) == 0 {
		return nil
	}
	ttl := int64((s.w.Length + s.w.Bucket) / time.Second)
	oldest := cur - s.w.buckets() + 1
	tops := map[int64]bool{}
	type scriptCall struct {
		cmd  *redis.Cmd
		keys []string
		args []any
	}
	var scripts []scriptCall
	var others []redis.Cmder
	pipe := s.rdb.Pipeline()
	for _, k := range order {
		g := groups[k]
		c := g.counts
		args := []any{k.bucket, oldest, ttl, 5 * (s.w.buckets() + 1), c.calls, c.afterHours, c.finished, c.answered, c.short}
		for t := range g.tenants {
			args = append(args, t)
		}
		keys := []string{s.countsKey(k.number), s.tenantsKey(k.number, k.bucket)}
		scripts = append(scripts, scriptCall{recordScript.EvalSha(ctx, pipe, keys, args...), keys, args})
		top := s.topKey(k.bucket)
		others = append(others, pipe.ZIncrBy(ctx, top, float64(c.activity()), k.number))
		tops[k.bucket] = true
	}
	for b := range tops {
		top := s.topKey(b)
		others = append(others, pipe.ZRemRangeByRank(ctx, top, 0, int64(-s.w.MaxTop-1)), pipe.Expire(ctx, top, time.Duration(ttl)*time.Second))
	}
	_, _ = pipe.Exec(ctx) // each command's error is read below
	// A server that does not hold the script yet (new, restarted, another
	// cluster node) refuses it alone; the rest of the pipeline applied.
	for _, sc := range scripts {
		err := sc.cmd.Err()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			err = recordScript.Eval(ctx, s.rdb, sc.keys, sc.args...).Err()
		}
		if err != nil {
			return fmt.Errorf("risk record: %w", err)
		}
	}
	for _, c := range others {
		if err := c.Err(); err != nil {
			return fmt.Errorf("risk record: %w", err)
		}
	}
	return nil
}

// Stats implements Store.
func (s *Redis) Stats(ctx context.Context, number string) (Stats, error) {
	st, err := s.stats(ctx, []string{number})
	if err != nil {
		return Stats{}, err
	}
	return st[0], nil
}

// Forget implements Store: the number's counts and tenants, and its place
// in the top sets, of every bucket of the window.
func (s *Redis) Forget(ctx context.Context, number string) (bool, error) {
	cur := s.w.bucket(s.w.Now())
	keys := []string{s.countsKey(number)}
	pipe := s.rdb.Pipeline()
	for b := cur - s.w.buckets(); b <= cur; b++ {
		keys = append(keys, s.tenantsKey(number, b))
		pipe.ZRem(ctx, s.topKey(b), number)
	}
	del := pipe.Del(ctx, keys...)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("risk forget: %w", err)
	}
	return del.Val() > 0, nil
}

// stats reads the Stats of numbers in one pipeline.
func (s *Redis) stats(ctx context.Context, numbers []string) ([]Stats, error) {
	cur := s.w.bucket(s.w.Now())
	pipe := s.rdb.Pipeline()
	hashes := make([]*redis.MapStringStringCmd, len(numbers))
	tenants := make([]*redis.IntCmd, len(numbers))
	for i, n := range numbers {
		hashes[i] = pipe.HGetAll(ctx, s.countsKey(n))
		keys := make([]string, 0, s.w.buckets())
		for b := cur - s.w.buckets() + 1; b <= cur; b++ {
			keys = append(keys, s.tenantsKey(n, b))
		}
		tenants[i] = pipe.PFCount(ctx, keys...)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("risk stats: %w", err)
	}
	out := make([]Stats, len(numbers))
	for i := range numbers {
		var c counts
		for f, v := range hashes[i].Val() {
			bs, name, ok := strings.Cut(f, ":")
			b, err := strconv.ParseInt(bs, 10, 64)
			if !ok || err != nil || !s.w.live(b, cur) {
				continue
			}
			n, _ := strconv.Atoi(v)
			switch name {
			case "c":
				c.calls += n
			case "h":
				c.afterHours += n
			case "f":
				c.finished += n
			case "a":
				c.answered += n
			case "s":
				c.short += n
			}
		}
		out[i].add(c)
		out[i].Tenants = int(tenants[i].Val())
	}
	return out, nil
}

// Top implements Store.
func (s *Redis) Top(ctx context.Context, n int) ([]NumberStats, error) {
	cur := s.w.bucket(s.w.Now())
	keys := make([]string, 0, s.w.buckets())
	for b := cur - s.w.buckets() + 1; b <= cur; b++ {
		keys = append(keys, s.topKey(b))
	}
	zs, err := s.rdb.ZUnionWithScores(ctx, redis.ZStore{Keys: keys, Aggregate: "SUM"}).Result()
	if err != nil {
		return nil, fmt.Errorf("risk top: %w", err)
	}
	slices.SortFunc(zs, func(a, b redis.Z) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Member.(string), b.Member.(string)))
	})
	zs = zs[:min(n, len(zs))]
	numbers := make([]string, len(zs))
	for i, z := range zs {
		numbers[i] = z.Member.(string)
	}
	if len(numbers) == 0 {
		return nil, nil
	}
	st, err := s.stats(ctx, numbers)
	if err != nil {
		return nil, err
	}
	out := make([]NumberStats, len(numbers))
	for i := range numbers {
		out[i] = NumberStats{numbers[i], st[i]}
	}
	return out, nil
}
