package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis index can rebuild a tenant beside the data it serves and switch
// to the result at once: each build is a generation, and lookups are served
// from the tenant's active one. A tenant never rebuilt is served from its
// original keys (generation ""); a rebuilt one from keys that carry the
// generation (cdx:g7:{acme}:recs). What generations exist, and which one is
// active, is kept under one hash tag, so the switch is one atomic script:
//
//	cdx:{.gen}:active   HASH    tenant → active generation id
//	cdx:{.gen}:log      HASH    "tenant/id" → Generation as JSON
//	cdx:{.gen}:seq      STRING  counter of generation ids (g1, g2, …)
//	cdx:{.gen}:changed  pub/sub channel, one message (the tenant) per switch
//
// ("." cannot start a tenant id, so these keys never meet a tenant's.)
//
// A rebuild: BeginGeneration records a generation "building"; the builder
// writes it through Build.Index while the old one keeps serving, refreshes
// its heartbeat, and calls Activate with the stream sequence it holds every
// event up to. Activate flips the pointer only if it still names the
// generation the build started from, marks the old one retired and
// publishes the switch. Every serving index follows the pointer (Follow:
// pub/sub plus a periodic refresh); the projector follows it too and, if it
// had already applied events past the new generation's sequence, goes back
// to that sequence so the new generation misses nothing.
//
// A build that dies leaves its generation "building" with an old heartbeat:
// the old generation keeps serving, and GC (run by the next rebuild, or
// calldexctl index gc) drops the leftover, as it drops retired generations
// once no server can still be reading them.

// Generation states.
const (
	GenerationBuilding = "building"
	GenerationActive   = "active"
	GenerationRetired  = "retired"
)

// Generation is one build of a tenant's part of a Redis index.
type Generation struct {
	Tenant string `json:"tenant"`
	// ID is "" for the original keys, gN for rebuilt ones.
	ID    string `json:"id"`
	State string `json:"state"`
	// Seq is the CONTACTS sequence the generation holds every event up to,
	// set when it becomes active: the projector continues from there.
	Seq uint64 `json:"seq,omitempty"`
	// Adopted is set once the projector writes into the generation.
	Adopted   bool      `json:"adopted,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	Heartbeat time.Time `json:"heartbeat,omitzero"`
	Activated time.Time `json:"activated,omitzero"`
	Retired   time.Time `json:"retired,omitzero"`
}

// Name is the generation's id, or "original" for the keys before any rebuild.
func (g Generation) Name() string {
	if g.ID == "" {
		return "original"
	}
	return g.ID
}

// activeTable is what a process believes each tenant is served from.
type activeTable struct {
	m atomic.Pointer[map[string]string]
}

func (a *activeTable) get(tenant string) string {
	if m := a.m.Load(); m != nil {
		return (*m)[tenant]
	}
	return ""
}

func (a *activeTable) set(m map[string]string) { a.m.Store(&m) }

func (r *Redis) genKey(name string) string { return r.base + "{.gen}:" + name }

func logField(tenant, id string) string { return tenant + "/" + id }

// ActiveGenerations reads from Redis which generation serves each tenant.
// Tenants that were never rebuilt are absent (generation "").
func (r *Redis) ActiveGenerations(ctx context.Context) (map[string]string, error) {
	m, err := r.rdb.HGetAll(ctx, r.genKey("active")).Result()
	if err != nil {
		return nil, fmt.Errorf("index generations: %w", err)
	}
	return m, nil
}

// Refresh loads the table of served generations. Call it once before
// serving when the index may have been rebuilt, then keep it current with
// Follow.
func (r *Redis) Refresh(ctx context.Context) error {
	m, err := r.ActiveGenerations(ctx)
	if err != nil {
		return err
	}
	r.active.set(m)
	return nil
}

// Follow keeps the table of served generations current until ctx ends: at
// once on every switch (pub/sub), and every interval whatever happens, which
// covers a message lost while reconnecting. Failed refreshes are logged and
// retried at the next tick; lookups keep using the last table.
func (r *Redis) Follow(ctx context.Context, every time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	if every <= 0 {
		every = 5 * time.Second
	}
	sub := r.rdb.Subscribe(ctx, r.genKey("changed"))
	defer sub.Close()
	refresh := func() {
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			log.Warn("index: refresh generations", "err", err)
		}
	}
	// Subscribed first, then loaded: a switch between the two is not
	// missed. Without the subscription the periodic refresh still follows.
	if _, err := sub.Receive(ctx); err != nil && ctx.Err() == nil {
		log.Warn("index: subscribe to generation switches", "err", err)
	}
	refresh()
	msgs := sub.Channel()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-msgs:
			refresh()
		case <-tick.C:
			refresh()
		}
	}
}

// Served returns the generation this process serves tenant from.
func (r *Redis) Served(tenant string) string { return r.generation(tenant) }

// View returns an index that reads and writes tenant's generation gen,
// whatever is served; other tenants follow the table as r does. A builder
// writes its new generation through one, the projector each tenant's
// generation it follows.
func (r *Redis) View(tenant, gen string) Index {
	v := *r
	v.pinTenant, v.pinGen = tenant, gen
	return &v
}

// Generations lists the recorded generations of tenant ("" for every
// tenant), oldest first. A tenant served from its original keys without a
// record is listed with an active original generation when it has data.
func (r *Redis) Generations(ctx context.Context, tenant string) ([]Generation, error) {
	if tenant != "" {
		if err := validTenant(tenant); err != nil {
			return nil, fmt.Errorf("index generations: %w", err)
		}
	}
	var logCmd, activeCmd *redis.MapStringStringCmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		logCmd = p.HGetAll(ctx, r.genKey("log"))
		activeCmd = p.HGetAll(ctx, r.genKey("active"))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index generations: %w", err)
	}
	log, active := logCmd.Val(), activeCmd.Val()
	var out []Generation
	seen := map[string]bool{}
	for field, raw := range log {
		t, _, _ := strings.Cut(field, "/")
		if tenant != "" && t != tenant {
			continue
		}
		var g Generation
		if err := json.Unmarshal([]byte(raw), &g); err != nil {
			return nil, fmt.Errorf("index generation %s: %w", field, err)
		}
		if active[t] == g.ID {
			g.State = GenerationActive
		} else if g.State == GenerationActive {
			g.State = GenerationRetired // switched away by a newer rebuild
		}
		seen[t+"/"+g.ID] = true
		out = append(out, g)
	}
	if tenant != "" && active[tenant] == "" && !seen[tenant+"/"] {
		out = append(out, Generation{Tenant: tenant, State: GenerationActive})
	}
	slices.SortFunc(out, func(a, b Generation) int {
		if c := strings.Compare(a.Tenant, b.Tenant); c != 0 {
			return c
		}
		return genOrder(a.ID) - genOrder(b.ID)
	})
	return out, nil
}

// genOrder orders generation ids: the original first, then by number.
func genOrder(id string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "g"))
	return n
}

// Generation returns the record of one generation, ErrNoGeneration when
// there is none.
func (r *Redis) Generation(ctx context.Context, tenant, id string) (Generation, error) {
	g, _, err := r.generationRaw(ctx, tenant, id)
	return g, err
}

func (r *Redis) generationRaw(ctx context.Context, tenant, id string) (Generation, string, error) {
	raw, err := r.rdb.HGet(ctx, r.genKey("log"), logField(tenant, id)).Result()
	if errors.Is(err, redis.Nil) {
		return Generation{Tenant: tenant, ID: id}, "", fmt.Errorf("index generation %s/%s: %w", tenant, id, ErrNoGeneration)
	}
	if err != nil {
		return Generation{}, "", fmt.Errorf("index generation %s/%s: %w", tenant, id, err)
	}
	var g Generation
	if err := json.Unmarshal([]byte(raw), &g); err != nil {
		return Generation{}, "", fmt.Errorf("index generation %s/%s: %w", tenant, id, err)
	}
	return g, raw, nil
}

// Adopt records that the projector writes into the generation, so that a
// restarted projector does not go back to its sequence again.
func (r *Redis) Adopt(ctx context.Context, tenant, id string) error {
	for range 5 {
		g, raw, err := r.generationRaw(ctx, tenant, id)
		if errors.Is(err, ErrNoGeneration) {
			return nil // the original keys, never recorded: nothing to go back to
		}
		if err != nil {
			return err
		}
		if g.Adopted {
			return nil
		}
		g.Adopted = true
		err = r.cas(ctx, tenant, checkNone, "", false, "", recordChange{logField(tenant, id), raw, encodeGen(g)})
		if !errors.Is(err, ErrGenerationConflict) {
			return err
		}
	}
	return fmt.Errorf("index adopt %s/%s: %w", tenant, id, ErrGenerationConflict)
}

// Build is a generation being built by one rebuild. Its methods are not
// safe for concurrent use.
type Build struct {
	r      *Redis
	gen    Generation
	raw    string // the record as last written by this build
	prev   string
	done   bool
	idx    Index
	tenant string
}

// BeginGeneration records a new generation of tenant as building and
// returns the handle to fill and activate it. It fails with
// ErrRebuildRunning when another build of the tenant had a heartbeat within
// stale.
func (r *Redis) BeginGeneration(ctx context.Context, tenant string, stale time.Duration) (*Build, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return nil, fmt.Errorf("index begin generation %s: %w", tenant, err)
	}
	gens, err := r.Generations(ctx, tenant)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	var prev string
	for _, g := range gens {
		switch {
		case g.State == GenerationActive:
			prev = g.ID
		case g.State == GenerationBuilding && now.Sub(latest(g.Heartbeat, g.Started)) < stale:
			return nil, fmt.Errorf("index begin generation %s: %w (generation %s, heartbeat %s ago)",
				tenant, ErrRebuildRunning, g.ID, now.Sub(latest(g.Heartbeat, g.Started)).Round(time.Second))
		}
	}
	n, err := r.rdb.Incr(ctx, r.genKey("seq")).Result()
	if err != nil {
		return nil, fmt.Errorf("index begin generation %s: %w", tenant, err)
	}
	g := Generation{Tenant: tenant, ID: "g" + strconv.FormatInt(n, 10), State: GenerationBuilding, Started: now, Heartbeat: now}
	raw := encodeGen(g)
	if err := r.cas(ctx, tenant, checkNone, "", false, "", recordChange{logField(tenant, g.ID), "", raw}); err != nil {
		return nil, fmt.Errorf("index begin generation %s: %w", tenant, err)
	}
	return &Build{r: r, gen: g, raw: raw, prev: prev, tenant: tenant, idx: r.View(tenant, g.ID)}, nil
}

// Generation is the generation being built.
func (b *Build) Generation() Generation { return b.gen }

// Previous is the generation that served when the build began; Activate
// replaces it only if it still serves.
func (b *Build) Previous() string { return b.prev }

// Index writes and reads the generation being built.
func (b *Build) Index() Index { return b.idx }

// Heartbeat tells GC the build is alive. ErrGenerationConflict means the
// generation was dropped meanwhile (found stale): the build must stop.
func (b *Build) Heartbeat(ctx context.Context) error {
	g := b.gen
	g.Heartbeat = time.Now().UTC()
	raw := encodeGen(g)
	if err := b.r.cas(ctx, b.tenant, checkNone, "", false, "", recordChange{logField(b.tenant, g.ID), b.raw, raw}); err != nil {
		return fmt.Errorf("index heartbeat %s/%s: %w", b.tenant, g.ID, err)
	}
	b.gen, b.raw = g, raw
	return nil
}

// Activate switches the tenant to the built generation, which holds every
// event up to seq, and retires the previous one. ErrGenerationConflict
// means another rebuild switched first, or the build was dropped: nothing
// changed, and the caller should Abort.
func (b *Build) Activate(ctx context.Context, seq uint64) error {
	now := time.Now().UTC()
	g := b.gen
	g.State, g.Seq, g.Activated, g.Heartbeat = GenerationActive, seq, now, now
	raw := encodeGen(g)
	for range 5 {
		prev, prevRaw, err := b.r.generationRaw(ctx, b.tenant, b.prev)
		if err != nil && !errors.Is(err, ErrNoGeneration) {
			return fmt.Errorf("index activate %s/%s: %w", b.tenant, g.ID, err)
		}
		prev.Tenant, prev.ID, prev.State, prev.Retired = b.tenant, b.prev, GenerationRetired, now
		err = b.r.cas(ctx, b.tenant, checkEqual, b.prev, true, g.ID,
			recordChange{logField(b.tenant, g.ID), b.raw, raw},
			recordChange{logField(b.tenant, b.prev), prevRaw, encodeGen(prev)})
		var rec recordConflict
		if errors.As(err, &rec) && rec.field == logField(b.tenant, b.prev) {
			continue // the projector adopted the previous generation meanwhile
		}
		if err != nil {
			return fmt.Errorf("index activate %s/%s: %w", b.tenant, g.ID, err)
		}
		b.gen, b.raw, b.done = g, raw, true
		return nil
	}
	return fmt.Errorf("index activate %s/%s: %w", b.tenant, g.ID, ErrGenerationConflict)
}

// Abort drops the generation being built (its keys and its record). After
// a successful Activate it does nothing.
func (b *Build) Abort(ctx context.Context) error {
	if b.done {
		return nil
	}
	b.done = true
	err := b.r.cas(ctx, b.tenant, checkDiffer, b.gen.ID, false, "", recordChange{logField(b.tenant, b.gen.ID), b.raw, ""})
	if err != nil && !errors.Is(err, ErrGenerationConflict) {
		return fmt.Errorf("index abort %s/%s: %w", b.tenant, b.gen.ID, err)
	}
	if errors.Is(err, ErrGenerationConflict) {
		// Dropped by gc already, or (never) activated: only delete data
		// of a generation that does not serve.
		active, aerr := b.r.ActiveGenerations(ctx)
		if aerr != nil {
			return fmt.Errorf("index abort %s/%s: %w", b.tenant, b.gen.ID, aerr)
		}
		if active[b.tenant] == b.gen.ID {
			return nil
		}
	}
	if _, err := b.r.deleteGeneration(ctx, b.tenant, b.gen.ID); err != nil {
		return fmt.Errorf("index abort %s/%s: %w", b.tenant, b.gen.ID, err)
	}
	return nil
}

// DropGeneration deletes a generation that does not serve: first its
// record (so it can no longer be activated), then its keys. It returns how
// many keys it deleted. ErrGenerationActive for the serving one.
func (r *Redis) DropGeneration(ctx context.Context, tenant, id string) (int64, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return 0, fmt.Errorf("index drop generation %s/%s: %w", tenant, id, err)
	}
	_, raw, err := r.generationRaw(ctx, tenant, id)
	if err != nil && !errors.Is(err, ErrNoGeneration) {
		return 0, err
	}
	if raw != "" {
		err = r.cas(ctx, tenant, checkDiffer, id, false, "", recordChange{logField(tenant, id), raw, ""})
	} else {
		err = r.cas(ctx, tenant, checkDiffer, id, false, "")
	}
	var act activeConflict
	if errors.As(err, &act) {
		return 0, fmt.Errorf("index drop generation %s/%s: %w", tenant, id, ErrGenerationActive)
	}
	if err != nil {
		return 0, fmt.Errorf("index drop generation %s/%s: %w", tenant, id, err)
	}
	n, err := r.deleteGeneration(ctx, tenant, id)
	if err != nil {
		return n, fmt.Errorf("index drop generation %s/%s: %w", tenant, id, err)
	}
	return n, nil
}

// deleteGeneration deletes every key of a generation. The stored contacts
// list their phone keys, so the buckets are found without SCAN (which
// Cluster would need on every node): each pass unlinks the buckets of a batch
// of contacts, then forgets those contacts, so an interrupted delete
// resumes where it stopped.
func (r *Redis) deleteGeneration(ctx context.Context, tenant, id string) (int64, error) {
	tk := tenantKeys(r.tenantBase(id, tenant))
	var deleted int64
	for {
		var cursor uint64
		found := false
		for {
			kv, next, err := r.rdb.HScan(ctx, tk.rec(), cursor, "", 500).Result()
			if err != nil {
				return deleted, err
			}
			if len(kv) > 0 {
				found = true
				n, err := r.dropContacts(ctx, tk, kv)
				deleted += n
				if err != nil {
					return deleted, err
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		if !found {
			break
		}
	}
	// The name index's pages, found through its directory, then the rest.
	bounds, err := r.rdb.ZRange(ctx, tk.names(), 0, -1).Result()
	if err != nil {
		return deleted, err
	}
	keys := make([]string, 0, len(bounds)+4)
	for _, b := range bounds {
		keys = append(keys, tk.page(b))
	}
	keys = append(keys, tk.rec(), tk.names(), tk.count(), tk.mark(), tk.links())
	n, err := r.unlink(ctx, keys)
	return deleted + n, err
}

// unlink unlinks keys, 500 at a time, and returns how many existed.
func (r *Redis) unlink(ctx context.Context, keys []string) (int64, error) {
	var deleted int64
	for len(keys) > 0 {
		n := min(len(keys), 500)
		c, err := r.rdb.Unlink(ctx, keys[:n]...).Result()
		if err != nil {
			return deleted, err
		}
		deleted += c
		keys = keys[n:]
	}
	return deleted, nil
}

// dropContacts unlinks the phone key buckets of the contacts in kv
// (field, value, field, value…) and removes them from rec.
func (r *Redis) dropContacts(ctx context.Context, tk tenantKeys, kv []string) (int64, error) {
	var keys []string
	seen := map[string]bool{}
	fields := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		fields = append(fields, kv[i])
		pks, _, err := storedIndexed(kv[i+1])
		if err != nil {
			continue
		}
		for _, k := range pks {
			if b := tk.bucket(k); !seen[b] {
				seen[b] = true
				keys = append(keys, b)
			}
		}
	}
	deleted, err := r.unlink(ctx, keys)
	if err != nil {
		return deleted, err
	}
	return deleted, r.rdb.HDel(ctx, tk.rec(), fields...).Err()
}

// GCOptions says what GC drops.
type GCOptions struct {
	// Tenant limits GC to one tenant ("" for all).
	Tenant string
	// Grace is how long a retired generation is kept, so that every server
	// has followed the switch before its keys go (default 1m).
	Grace time.Duration
	// Stale is how old a building generation's heartbeat must be for its
	// build to count as dead (default 1m).
	Stale time.Duration
	// DryRun lists what would be dropped without dropping it.
	DryRun bool
}

// Dropped is a generation GC dropped (or would drop), with why.
type Dropped struct {
	Generation
	Reason string `json:"reason"`
	Keys   int64  `json:"keys"`
}

// GC drops the generations no server reads any more: retired ones older
// than Grace, and building ones whose build died (no heartbeat within Stale).
func (r *Redis) GC(ctx context.Context, o GCOptions) ([]Dropped, error) {
	if o.Grace == 0 {
		o.Grace = time.Minute
	}
	if o.Stale == 0 {
		o.Stale = time.Minute
	}
	gens, err := r.Generations(ctx, o.Tenant)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	var out []Dropped
	for _, g := range gens {
		var reason string
		switch g.State {
		case GenerationBuilding:
			if age := now.Sub(latest(g.Heartbeat, g.Started)); age >= o.Stale {
				reason = fmt.Sprintf("build died (no heartbeat for %s)", age.Round(time.Second))
			}
		case GenerationRetired:
			if age := now.Sub(latest(g.Retired, g.Activated)); age >= o.Grace {
				reason = fmt.Sprintf("retired %s ago", age.Round(time.Second))
			}
		}
		if reason == "" {
			continue
		}
		d := Dropped{Generation: g, Reason: reason}
		if !o.DryRun {
			n, err := r.DropGeneration(ctx, g.Tenant, g.ID)
			if errors.Is(err, ErrGenerationActive) || errors.Is(err, ErrGenerationConflict) {
				continue // switched or touched meanwhile: next time
			}
			if err != nil {
				return out, err
			}
			d.Keys = n
		}
		out = append(out, d)
	}
	return out, nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func encodeGen(g Generation) string {
	b, _ := json.Marshal(g)
	return string(b)
}

// How cas checks the active generation of the tenant.
const (
	checkNone   = "*"
	checkEqual  = "="
	checkDiffer = "!"
)

// recordChange replaces a log field whose value is expect ("" absent) by
// next ("" deletes it).
type recordChange struct{ field, expect, next string }

type activeConflict struct{ current string }

func (e activeConflict) Error() string {
	return fmt.Sprintf("%v: active generation is %q", ErrGenerationConflict, e.current)
}
func (e activeConflict) Unwrap() error { return ErrGenerationConflict }

type recordConflict struct{ field string }

func (e recordConflict) Error() string {
	return fmt.Sprintf("%v: record %s changed", ErrGenerationConflict, e.field)
}
func (e recordConflict) Unwrap() error { return ErrGenerationConflict }

// casScript changes the generation bookkeeping atomically, provided the
// active generation and every record are what the caller saw.
//
// KEYS: active, log. ARGV: tenant, check mode and value ("*", "=id", "!id"),
// set active ("1"/"0"), new active ("" removes), channel to publish the
// tenant on ("" none), then triples of log field, expected value ("" absent),
// new value ("" deletes). Returns "ok", "active:<current>" or "record:<field>".
var casScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
local mode, want = string.sub(ARGV[2], 1, 1), string.sub(ARGV[2], 2)
if (mode == '=' and cur ~= want) or (mode == '!' and cur == want) then
  return 'active:' .. cur
end
for i = 6, #ARGV, 3 do
  if (redis.call('HGET', KEYS[2], ARGV[i]) or '') ~= ARGV[i + 1] then
    return 'record:' .. ARGV[i]
  end
end
if ARGV[3] == '1' then
  if ARGV[4] == '' then
    redis.call('HDEL', KEYS[1], ARGV[1])
  else
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
  end
end
for i = 6, #ARGV, 3 do
  if ARGV[i + 2] == '' then
    redis.call('HDEL', KEYS[2], ARGV[i])
  else
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
  end
end
if ARGV[5] ~= '' then
  redis.call('PUBLISH', ARGV[5], ARGV[1])
end
return 'ok'
`)

func (r *Redis) cas(ctx context.Context, tenant, mode, want string, setActive bool, newActive string, changes ...recordChange) error {
	set, channel := "0", ""
	if setActive {
		set, channel = "1", r.genKey("changed")
	}
	args := []any{tenant, mode + want, set, newActive, channel}
	for _, c := range changes {
		args = append(args, c.field, c.expect, c.next)
	}
	res, err := casScript.Run(ctx, r.rdb, []string{r.genKey("active"), r.genKey("log")}, args...).Text()
	if err != nil {
		return err
	}
	switch {
	case res == "ok":
		return nil
	case strings.HasPrefix(res, "active:"):
		return activeConflict{current: strings.TrimPrefix(res, "active:")}
	default:
		return recordConflict{field: strings.TrimPrefix(res, "record:")}
	}
}
