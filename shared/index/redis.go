package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
)

var _ Index = (*Redis)(nil)

// NameScanCap is how many name-index entries SearchName examines at most:
// those of the query word that the fewest names start with, in byte order.
// It bounds the time one search holds Redis; a query whose every word is a
// very common prefix ("a") may therefore miss names past the cap.
const NameScanCap = 1000

// maxApplyAttempts bounds the optimistic retries of Upsert and Delete. Each
// failed attempt means another writer changed the same contact in between,
// which the single projector makes rare; the bound only stops a livelock.
const maxApplyAttempts = 50

// Redis is the production Index. One tenant's data lives under keys that all
// carry the hash tag {tenant}, so they share one Redis Cluster slot and every
// script below can touch them together. With prefix "cdx" and tenant "acme":
//
//	cdx:{acme}:doc            HASH  ref → contact as JSON (events.Contact)
//	cdx:{acme}:meta           HASH  ref → {"u":updatedAtMs,"k":[keys],"w":[words]}
//	cdx:{acme}:name           ZSET  "word\x00ref", score 0 (prefix search by ZRANGEBYLEX)
//	cdx:{acme}:stats          HASH  keys → number of phone keys that find someone
//	cdx:{acme}:mark           STRING CONTACTS sequence the data is known complete to (Mark)
//	cdx:{acme}:k:e:+41215522000  ZSET ref, score UpdatedAt in Unix ms
//
// A ref is "source:id". meta remembers the keys and name words a contact is
// indexed under, so that the next version can take them back exactly.
//
// Once a tenant has been rebuilt (see Generation), its keys carry the
// generation too — cdx:g7:{acme}:doc and so on — and the index reads the
// generation each tenant is served from in a table it keeps in memory
// (Refresh, Follow): a lookup still takes one round trip.
//
// Every key a script touches is passed in KEYS, as Redis Cluster (and
// stricter servers such as Dragonfly) require: Lookup and SearchName know
// theirs up front; Upsert, Delete and ApplyBatch learn a contact's current
// keys from its meta and retry optimistically if it changed meanwhile.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	// lookups sends concurrent lookups in shared pipelines.
	lookups *lanes
	base    string // prefix plus ':'
	// active is the table of served generations, shared by an index and
	// its views.
	active *activeTable
	// pin fixes the generation of one tenant (View); pinTenant "" follows
	// the table for every tenant.
	pinTenant, pinGen string
}

// NewRedis returns an Index on rdb whose keys all start with prefix (e.g.
// "cdx"). The prefix must not contain '{' or '}', which would move the hash
// tag; an empty prefix starts keys with the tag itself. Until Refresh or
// Follow loads the table of generations, every tenant is served from its
// original keys.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	base := ""
	if prefix != "" {
		base = prefix + ":"
	}
	return &Redis{rdb: rdb, prefix: prefix, base: base, active: &activeTable{},
		lookups: newLanes(rdb)}
}

// generation is the generation the index reads and writes for tenant.
func (r *Redis) generation(tenant string) string {
	if r.pinTenant == tenant && r.pinTenant != "" {
		return r.pinGen
	}
	return r.active.get(tenant)
}

// tenantBase is what every key of tenant's generation gen starts with.
func (r *Redis) tenantBase(gen, tenant string) string {
	if gen == "" {
		return r.base + "{" + tenant + "}:"
	}
	return r.base + gen + ":{" + tenant + "}:"
}

// keys names the keys of tenant in the generation it is served from,
// resolved once, so that one operation never mixes two generations.
func (r *Redis) keys(tenant string) tenantKeys {
	return tenantKeys(r.tenantBase(r.generation(tenant), tenant))
}

// tenantKeys is the common start of one tenant's keys in one generation.
type tenantKeys string

func (k tenantKeys) doc() string   { return string(k) + "doc" }
func (k tenantKeys) meta() string  { return string(k) + "meta" }
func (k tenantKeys) name() string  { return string(k) + "name" }
func (k tenantKeys) stats() string { return string(k) + "stats" }
func (k tenantKeys) mark() string  { return string(k) + "mark" }

// phone names the sorted set of contacts found under pk.
func (k tenantKeys) phone(pk phone.Key) string { return string(k) + "k:" + string(pk) }

// hits names the hit list of pk: the first HitListLen members of its set,
// ranked, with their documents (see applyScript).
func (k tenantKeys) hits(pk phone.Key) string { return string(k) + "h:" + string(pk) }

// HitListLen is how many contacts a phone key's hit list holds: lookups
// asking for at most that many read hit lists with one MGET; larger ones
// run lookupScript.
const HitListLen = 10

// meta is what a contact is indexed under, kept to undo it on the next write.
type meta struct {
	UpdatedMs int64       `json:"u"` // ranks name search hits without decoding documents
	Keys      []phone.Key `json:"k"`
	Words     []string    `json:"w"` // never null: the search script iterates it
}

// applyScript replaces (or, with an empty new meta, deletes) one contact
// atomically, provided its meta is still the one the caller saw; otherwise
// it changes nothing and returns {0, current meta} for the caller to retry.
//
// KEYS: doc, meta, name, stats, the phone-key sets to leave, then those of
// the new version, then the hit list of each of those sets in the same
// order. ARGV: ref, meta seen (empty: absent), new meta (empty: delete),
// doc, score, #sets to leave, #name members to remove, hit list length,
// the name members to remove, then those to add (see applyArgs).
//
// stats.keys changes when a set is emptied or created, so it counts phone
// keys that find at least one contact; the contact count is HLEN doc.
//
// Last, it rewrites the hit list of every set it touched: the set's top
// members as ZREVRANGE ranks them, each "score:len:ref" followed by
// "len:doc". A lookup then reads what it needs with one MGET, which costs
// Redis a fraction of running lookupScript; writes, far rarer than
// lookups on the ringing path, pay for it.
var applyScript = redis.NewScript(`
local ref = ARGV[1]
local cur = redis.call('HGET', KEYS[2], ref) or ''
if cur ~= ARGV[2] then
  return {0, cur}
end
local nOld = tonumber(ARGV[6])
local nOldNames = tonumber(ARGV[7])
local hitLen = tonumber(ARGV[8])
local nSets = (#KEYS - 4) / 2
local dkeys = 0
-- listed[i]: the hit list of set i is written already.
local listed = {}
local function entry(score, member, doc)
  return score .. ':' .. #member .. ':' .. member .. #doc .. ':' .. doc
end
for i = 5, 4 + nOld do
  if redis.call('ZREM', KEYS[i], ref) == 1 and redis.call('EXISTS', KEYS[i]) == 0 then
    dkeys = dkeys - 1
    redis.call('DEL', KEYS[i + nSets])
    listed[i] = true
  end
end
for i = 9, 8 + nOldNames do
  redis.call('ZREM', KEYS[3], ARGV[i])
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ref)
  redis.call('HDEL', KEYS[2], ref)
else
  redis.call('HSET', KEYS[1], ref, ARGV[4])
  redis.call('HSET', KEYS[2], ref, ARGV[3])
  for i = 5 + nOld, 4 + nSets do
    local added = redis.call('ZADD', KEYS[i], ARGV[5], ref)
    if redis.call('ZCARD', KEYS[i]) == 1 then
      -- The contact alone under this key (most numbers): its own entry.
      dkeys = dkeys + added
      redis.call('SET', KEYS[i + nSets], entry(ARGV[5], ref, ARGV[4]))
      listed[i] = true
    end
  end
  for i = 9 + nOldNames, #ARGV do
    redis.call('ZADD', KEYS[3], 0, ARGV[i])
  end
end
if dkeys ~= 0 then
  redis.call('HINCRBY', KEYS[4], 'keys', dkeys)
end
for i = 5, 4 + nSets do
  if not listed[i] then
    local top = redis.call('ZREVRANGE', KEYS[i], 0, hitLen - 1, 'WITHSCORES')
    if #top == 0 then
      redis.call('DEL', KEYS[i + nSets])
    else
      local parts = {}
      for j = 1, #top, 2 do
        parts[#parts + 1] = entry(top[j + 1], top[j], redis.call('HGET', KEYS[1], top[j]) or '')
      end
      redis.call('SET', KEYS[i + nSets], table.concat(parts))
    end
  end
end
return {1}
`)

// lookupScript answers a lookup in one round trip.
//
// KEYS: doc, then one phone-key set per candidate. ARGV: limit, then the
// kind of each candidate (0 exact, 1 tail). Returns {kind, doc, kind, doc…}.
//
// Ranking is (kind, score desc, ref desc), each contact once with its best
// kind. Taking only the top limit members of each set is enough: a
// contact's score is the same in every set (its UpdatedAt), and all members
// of one set share that set's kind, so within a set ZREVRANGE order is the
// global order. If a contact c is missing from the top limit of the set k
// that gives it its best rank, then limit other contacts sit above it in k;
// they are distinct (members of one set), all read, and each ranks at least
// as well as through k, hence above c: c is not in the global top limit.
// So every contact of the true top limit is read through its best key, with
// its true rank, and one read only through a worse key (ranked too low) is
// outranked by limit others anyway and never returned.
var lookupScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local seen, hits = {}, {}
for i = 2, #KEYS do
  local kind = tonumber(ARGV[i])
  local r = redis.call('ZREVRANGE', KEYS[i], 0, limit - 1, 'WITHSCORES')
  for j = 1, #r, 2 do
    local h = seen[r[j]]
    if h == nil then
      h = {r[j], kind, tonumber(r[j + 1])}
      seen[r[j]] = h
      hits[#hits + 1] = h
    elseif kind < h[2] then
      h[2] = kind
    end
  end
end
table.sort(hits, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  if a[3] ~= b[3] then return a[3] > b[3] end
  return a[1] > b[1]
end)
local out = {}
for i = 1, math.min(limit, #hits) do
  local doc = redis.call('HGET', KEYS[1], hits[i][1])
  if doc then
    out[#out + 1] = hits[i][2]
    out[#out + 1] = doc
  end
end
return out
`)

// searchScript answers a name search in one round trip. It scans the name
// entries of the most selective query word only (ZLEXCOUNT is O(log n)),
// then checks the other words against each candidate's meta, so only that
// one word is subject to the cap.
//
// KEYS: doc, meta, name. ARGV: limit, cap, folded query words.
// Ranked by whole-word hits desc, UpdatedAt desc, ref desc. Returns docs.
var searchScript = redis.NewScript(`
local limit, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local best, bestN
for i = 3, #ARGV do
  local n = redis.call('ZLEXCOUNT', KEYS[3], '[' .. ARGV[i], '(' .. ARGV[i] .. '\255')
  if n == 0 then return {} end
  if bestN == nil or n < bestN then best, bestN = ARGV[i], n end
end
local entries = redis.call('ZRANGEBYLEX', KEYS[3], '[' .. best, '(' .. best .. '\255', 'LIMIT', 0, cap)
local seen, hits = {}, {}
for _, e in ipairs(entries) do
  local ref = string.sub(e, string.find(e, '\0', 1, true) + 1)
  if not seen[ref] then
    seen[ref] = true
    local raw = redis.call('HGET', KEYS[2], ref)
    if raw then
      local m = cjson.decode(raw)
      local whole, ok = 0, true
      for i = 3, #ARGV do
        local q, found, equal = ARGV[i], false, false
        for _, w in ipairs(m.w) do
          if w == q then
            found, equal = true, true
            break
          end
          if string.sub(w, 1, #q) == q then found = true end
        end
        if not found then
          ok = false
          break
        end
        if equal then whole = whole + 1 end
      end
      if ok then hits[#hits + 1] = {ref, whole, m.u} end
    end
  end
end
table.sort(hits, function(a, b)
  if a[2] ~= b[2] then return a[2] > b[2] end
  if a[3] ~= b[3] then return a[3] > b[3] end
  return a[1] > b[1]
end)
local out = {}
for i = 1, math.min(limit, #hits) do
  local doc = redis.call('HGET', KEYS[1], hits[i][1])
  if doc then out[#out + 1] = doc end
end
return out
`)

// Upsert stores e, replacing every key and name of the previous version.
// A new contact takes one round trip, a changed one two.
func (r *Redis) Upsert(ctx context.Context, tenant string, e Entry) error {
	if err := checkCall(ctx, tenant); err != nil {
		return fmt.Errorf("index upsert %s: %w", tenant, err)
	}
	if err := validContact(tenant, e.Contact.Source, e.Contact.ID); err != nil {
		return fmt.Errorf("index upsert %s: %w", tenant, err)
	}
	w, err := newWrite(Upserted(e))
	if err != nil {
		return fmt.Errorf("index upsert %s: %w", tenant, err)
	}
	if err := r.apply(ctx, r.keys(tenant), &w); err != nil {
		return fmt.Errorf("index upsert %s: %w", tenant, err)
	}
	return nil
}

// Delete removes a contact and all its keys; a missing contact is no error.
// A missing contact takes one round trip, an existing one two.
func (r *Redis) Delete(ctx context.Context, tenant, source, id string) error {
	if err := checkCall(ctx, tenant); err != nil {
		return fmt.Errorf("index delete %s: %w", tenant, err)
	}
	if err := validContact(tenant, source, id); err != nil {
		return fmt.Errorf("index delete %s: %w", tenant, err)
	}
	w, err := newWrite(Deleted(source, id))
	if err != nil {
		return fmt.Errorf("index delete %s: %w", tenant, err)
	}
	if err := r.apply(ctx, r.keys(tenant), &w); err != nil {
		return fmt.Errorf("index delete %s: %w", tenant, err)
	}
	return nil
}

// maxPipeline bounds the scripts ApplyBatch sends in one pipeline, and
// pipelinesInFlight how many it has under way at once, each on its own
// connection: while Redis runs one, the next is encoded, so Redis does not
// wait for the client between pipelines. Each script runs alone, but Redis
// serves other clients (the lookups) between the scripts of a pipeline, as
// it reads it in chunks.
const (
	maxPipeline       = 250
	pipelinesInFlight = 2
)

// ApplyBatch applies changes of one tenant as Upsert and Delete would, one
// after the other, in far fewer round trips: per 250 contacts, new or
// changed, one HMGET reads what each contact is indexed under now and one
// pipeline runs the compare-and-set script of every contact; a contact
// another writer changed in between costs one more pipeline round. Up to
// two such pipelines are under way at once.
//
// Only the last change of each contact is written (see lastPerContact), so
// the pipelines hold distinct contacts and their order does not matter. A
// batch is not atomic: after an error some of its changes may be written,
// and applying the whole batch again is safe. It fails without writing
// anything when a change is invalid (events.ErrInvalid) or ctx is done.
func (r *Redis) ApplyBatch(ctx context.Context, tenant string, changes []Change) error {
	if err := checkCall(ctx, tenant); err != nil {
		return fmt.Errorf("index batch %s: %w", tenant, err)
	}
	if err := checkBatch(tenant, changes); err != nil {
		return fmt.Errorf("index batch %s: %w", tenant, err)
	}
	changes = lastPerContact(changes)
	if len(changes) == 0 {
		return nil
	}
	// Resolved once: a batch never spans two generations.
	tk := r.keys(tenant)
	apply := func(ctx context.Context, changes []Change) error {
		ws := make([]write, len(changes))
		for i, c := range changes {
			w, err := newWrite(c)
			if err != nil {
				return err
			}
			ws[i] = w
		}
		return r.applyPipelined(ctx, tk, ws)
	}
	if len(changes) <= maxPipeline {
		if err := apply(ctx, changes); err != nil {
			return fmt.Errorf("index batch %s: %w", tenant, err)
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		slots = make(chan struct{}, pipelinesInFlight)
	)
	for lo := 0; lo < len(changes) && ctx.Err() == nil; lo += maxPipeline {
		slots <- struct{}{}
		part := changes[lo:min(lo+maxPipeline, len(changes))]
		wg.Go(func() {
			defer func() { <-slots }()
			if err := apply(ctx, part); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("index batch %s: %w", tenant, first)
	}
	// ctx may have ended before every pipeline was sent.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("index batch %s: %w", tenant, err)
	}
	return nil
}

// write is one contact's change, encoded for applyScript.
type write struct {
	ref string
	// next is the new meta, encoded; nil deletes the contact.
	next  []byte
	doc   []byte
	score int64
	keys  []phone.Key
	words []string
	// seen is the meta the contact is believed to have now ("" absent):
	// what the script undoes, and its compare-and-set condition.
	seen string
}

func newWrite(c Change) (write, error) {
	w := write{ref: c.ref()}
	if c.Delete {
		return w, nil
	}
	doc, err := json.Marshal(c.Entry.Contact)
	if err != nil {
		return w, fmt.Errorf("encode contact %s: %w", w.ref, err)
	}
	m := meta{
		UpdatedMs: c.Entry.Contact.UpdatedAt.UnixMilli(),
		Keys:      dedupeKeys(c.Entry.Keys),
		Words:     FoldName(c.Entry.Contact.Name),
	}
	if m.Words == nil {
		m.Words = []string{}
	}
	next, err := json.Marshal(m)
	if err != nil {
		return w, fmt.Errorf("encode meta of %s: %w", w.ref, err)
	}
	w.next, w.doc, w.score, w.keys, w.words = next, doc, m.UpdatedMs, m.Keys, m.Words
	return w, nil
}

// apply runs applyScript for one contact until it succeeds: it first
// assumes the contact is absent (true for every write of a rebuild, so one
// round trip), and on a mismatch retries with the meta the script handed
// back.
func (r *Redis) apply(ctx context.Context, tk tenantKeys, w *write) error {
	for range maxApplyAttempts {
		keys, args, err := applyArgs(tk, w)
		if err != nil {
			return err
		}
		res, err := applyScript.Run(ctx, r.rdb, keys, args...).Slice()
		if err != nil {
			return err
		}
		if done, err := w.settle(res); done || err != nil {
			return err
		}
	}
	return fmt.Errorf("contact %s changed %d times while being written", w.ref, maxApplyAttempts)
}

// applyPipelined writes ws (each contact once) with one HMGET of their
// current metas, then pipelines of applyScript until every compare-and-set
// succeeded. A NOSCRIPT reply (Redis lost its script cache) loads the
// script and runs those contacts again.
func (r *Redis) applyPipelined(ctx context.Context, tk tenantKeys, ws []write) error {
	refs := make([]string, len(ws))
	for i := range ws {
		refs[i] = ws[i].ref
	}
	seen, err := r.rdb.HMGet(ctx, tk.meta(), refs...).Result()
	if err != nil {
		return err
	}
	todo := make([]*write, len(ws))
	for i := range ws {
		ws[i].seen, _ = seen[i].(string) // nil: absent
		todo[i] = &ws[i]
	}
	for range maxApplyAttempts {
		cmds := make([]*redis.Cmd, len(todo))
		pipe := r.rdb.Pipeline()
		for i, w := range todo {
			keys, args, err := applyArgs(tk, w)
			if err != nil {
				return err
			}
			cmds[i] = applyScript.EvalSha(ctx, pipe, keys, args...)
		}
		// Exec's error is that of the first failed command: each is
		// looked at below.
		_, _ = pipe.Exec(ctx)
		var again []*write
		noScript := false
		for i, cmd := range cmds {
			res, err := cmd.Slice()
			if redis.HasErrorPrefix(err, "NOSCRIPT") {
				noScript = true
				again = append(again, todo[i])
				continue
			}
			if err != nil {
				return err
			}
			done, err := todo[i].settle(res)
			if err != nil {
				return err
			}
			if !done {
				again = append(again, todo[i])
			}
		}
		if len(again) == 0 {
			return nil
		}
		if noScript {
			if err := applyScript.Load(ctx, r.rdb).Err(); err != nil {
				return err
			}
		}
		todo = again
	}
	return fmt.Errorf("%d contacts (%s first) changed %d times while being written", len(todo), todo[0].ref, maxApplyAttempts)
}

// settle reads applyScript's reply: done, or not yet, with the current
// meta to undo on the next attempt.
func (w *write) settle(res []any) (bool, error) {
	if len(res) == 1 {
		return true, nil
	}
	cur, ok := res[1].(string)
	if len(res) != 2 || !ok {
		return false, fmt.Errorf("unexpected script reply %v", res)
	}
	w.seen = cur
	return false, nil
}

// applyArgs builds applyScript's KEYS and ARGV from the meta seen (what to
// undo) and the write. Only what changes is undone: the phone keys and
// name words the contact leaves. Keys it keeps are passed again, as the
// new ones, so that ZADD moves their score to the new UpdatedAt; words it
// keeps are not passed at all (their score is always 0). A changed contact
// whose numbers stay (most CRM edits) so costs Redis far fewer commands
// than undoing and redoing everything, with the same result: the script
// runs only if the contact's meta is still the one seen.
func applyArgs(tk tenantKeys, w *write) ([]string, []any, error) {
	var prev meta
	if w.seen != "" {
		if err := json.Unmarshal([]byte(w.seen), &prev); err != nil {
			return nil, nil, fmt.Errorf("decode meta of %s: %w", w.ref, err)
		}
	}
	upsert := w.next != nil
	var sets []phone.Key
	for _, k := range prev.Keys {
		if !upsert || !containsKey(w.keys, k) {
			sets = append(sets, k)
		}
	}
	left := len(sets)
	var leftNames, joinedNames []any
	for _, wd := range prev.Words {
		if !upsert || !slices.Contains(w.words, wd) {
			leftNames = append(leftNames, nameEntry(wd, w.ref))
		}
	}
	if upsert {
		sets = append(sets, w.keys...)
		for _, wd := range w.words {
			if !slices.Contains(prev.Words, wd) {
				joinedNames = append(joinedNames, nameEntry(wd, w.ref))
			}
		}
	}
	keys := make([]string, 0, 4+2*len(sets))
	keys = append(keys, tk.doc(), tk.meta(), tk.name(), tk.stats())
	for _, k := range sets {
		keys = append(keys, tk.phone(k))
	}
	for _, k := range sets {
		keys = append(keys, tk.hits(k))
	}
	args := make([]any, 0, 8+len(leftNames)+len(joinedNames))
	args = append(args, w.ref, w.seen, w.next, w.doc, w.score, left, len(leftNames), HitListLen)
	args = append(args, leftNames...)
	args = append(args, joinedNames...)
	return keys, args, nil
}

// nameEntry is a member of the name index. Folded words never contain NUL,
// so the first NUL ends the word whatever the ref holds.
func nameEntry(word, rf string) string { return word + "\x00" + rf }

// Lookup returns at most limit contacts found under any of keys, exact
// matches first, then newest first, in exactly one round trip: an MGET of
// the keys' hit lists, sent with the lookups of other callers under load;
// above HitListLen, lookupScript (EVALSHA; after Redis lost its script
// cache, an EVAL too).
func (r *Redis) Lookup(ctx context.Context, tenant string, keys []phone.Key, limit int) ([]Match, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return nil, fmt.Errorf("index lookup %s: %w", tenant, err)
	}
	if limit <= 0 || len(keys) == 0 {
		return nil, nil
	}
	tk := r.keys(tenant)
	var out []Match
	var err error
	if limit <= HitListLen {
		out, err = r.lookupHits(ctx, tk, keys, limit)
	} else {
		out, err = r.lookupScripted(ctx, tk, keys, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("index lookup %s: %w", tenant, err)
	}
	return out, nil
}

// lookupHits reads the keys' hit lists and ranks them as lookupScript
// does (see there why each list's top entries are enough).
func (r *Redis) lookupHits(ctx context.Context, tk tenantKeys, keys []phone.Key, limit int) ([]Match, error) {
	hkeys := make([]string, len(keys))
	for i, k := range keys {
		hkeys[i] = tk.hits(k)
	}
	vals, err := r.lookups.mget(ctx, hkeys)
	if err != nil {
		return nil, err
	}
	var hits []hit
	for i, v := range vals {
		list, _ := v.(string) // nil: no contact under this key
		if hits, err = appendHits(hits, list, keys[i].Kind()); err != nil {
			return nil, fmt.Errorf("hit list %s: %w", hkeys[i], err)
		}
	}
	hits = bestPerContact(hits)
	slices.SortFunc(hits, func(a, b hit) int { return lookupOrder(a.kind, b.kind, a.ms, b.ms, a.ref, b.ref) })
	hits = hits[:min(limit, len(hits))]
	out := make([]Match, 0, len(hits))
	for _, h := range hits {
		c, err := decodeContact(h.doc)
		if err != nil {
			return nil, err
		}
		out = append(out, Match{Contact: c, Kind: h.kind})
	}
	return out, nil
}

// bestPerContact keeps each contact once, with the best kind it was found
// by. Lists are short (at most HitListLen per candidate key), so a scan
// beats a map.
func bestPerContact(hits []hit) []hit {
	out := hits[:0]
	for _, h := range hits {
		dup := false
		for i := range out {
			if out[i].ref == h.ref {
				out[i].kind, dup = min(out[i].kind, h.kind), true
				break
			}
		}
		if !dup {
			out = append(out, h)
		}
	}
	return out
}

// hit is one entry of a hit list.
type hit struct {
	ref, doc string
	ms       int64 // the set's score: UpdatedAt in Unix milliseconds
	kind     phone.Kind
}

// appendHits parses a hit list written by applyScript: entries of
// "score:len:ref" then "len:doc".
func appendHits(hits []hit, list string, kind phone.Kind) ([]hit, error) {
	for list != "" {
		scoreStr, rest, ok := strings.Cut(list, ":")
		score, err := strconv.ParseFloat(scoreStr, 64)
		if !ok || err != nil {
			return hits, fmt.Errorf("bad score %.20q", scoreStr)
		}
		h := hit{ms: int64(score), kind: kind}
		if h.ref, rest, err = cutCounted(rest); err != nil {
			return hits, err
		}
		if h.doc, list, err = cutCounted(rest); err != nil {
			return hits, err
		}
		hits = append(hits, h)
	}
	return hits, nil
}

// cutCounted splits "len:value…" after value.
func cutCounted(s string) (value, rest string, err error) {
	n, rest, ok := strings.Cut(s, ":")
	size, err := strconv.Atoi(n)
	if !ok || err != nil || size < 0 || size > len(rest) {
		return "", "", fmt.Errorf("bad length %.20q", n)
	}
	return rest[:size], rest[size:], nil
}

// lookupScripted runs lookupScript, for limits above HitListLen.
func (r *Redis) lookupScripted(ctx context.Context, tk tenantKeys, keys []phone.Key, limit int) ([]Match, error) {
	rkeys := make([]string, 0, len(keys)+1)
	args := make([]any, 0, len(keys)+1)
	rkeys = append(rkeys, tk.doc())
	args = append(args, limit)
	for _, k := range keys {
		rkeys = append(rkeys, tk.phone(k))
		args = append(args, int(k.Kind()))
	}
	res, err := lookupScript.Run(ctx, r.rdb, rkeys, args...).Slice()
	if err != nil {
		return nil, err
	}
	out := make([]Match, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		kind, ok := res[i].(int64)
		if !ok {
			return nil, fmt.Errorf("unexpected kind %v", res[i])
		}
		c, err := decodeContact(res[i+1])
		if err != nil {
			return nil, err
		}
		out = append(out, Match{Contact: c, Kind: phone.Kind(kind)})
	}
	return out, nil
}

// SearchName returns at most limit contacts whose name has, for every word
// of query, a word starting with it, in one round trip. See NameScanCap.
func (r *Redis) SearchName(ctx context.Context, tenant, query string, limit int) ([]events.Contact, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return nil, fmt.Errorf("index search %s: %w", tenant, err)
	}
	words := FoldName(query)
	if limit <= 0 || len(words) == 0 {
		return nil, nil
	}
	tk := r.keys(tenant)
	keys := []string{tk.doc(), tk.meta(), tk.name()}
	args := make([]any, 0, len(words)+2)
	args = append(args, limit, NameScanCap)
	for _, w := range words {
		args = append(args, w)
	}
	res, err := searchScript.Run(ctx, r.rdb, keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("index search %s: %w", tenant, err)
	}
	out := make([]events.Contact, 0, len(res))
	for _, doc := range res {
		c, err := decodeContact(doc)
		if err != nil {
			return nil, fmt.Errorf("index search %s: %w", tenant, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Stats counts what a tenant has in the index, in one round trip.
func (r *Redis) Stats(ctx context.Context, tenant string) (Stats, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return Stats{}, fmt.Errorf("index stats %s: %w", tenant, err)
	}
	var contacts *redis.IntCmd
	var keys *redis.StringCmd
	tk := r.keys(tenant)
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		contacts = p.HLen(ctx, tk.doc())
		keys = p.HGet(ctx, tk.stats(), "keys")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Stats{}, fmt.Errorf("index stats %s: %w", tenant, err)
	}
	s := Stats{Contacts: contacts.Val()}
	if keys.Err() == nil {
		if s.Keys, err = keys.Int64(); err != nil {
			return Stats{}, fmt.Errorf("index stats %s: %w", tenant, err)
		}
	}
	return s, nil
}

// decodeContact turns a document from a script reply into a contact.
func decodeContact(v any) (events.Contact, error) {
	var c events.Contact
	doc, ok := v.(string)
	if !ok {
		return c, fmt.Errorf("unexpected document %T", v)
	}
	if err := json.Unmarshal([]byte(doc), &c); err != nil {
		return c, fmt.Errorf("decode contact: %w", err)
	}
	return c, nil
}

// KeyReport is what one candidate key finds, for explaining a lookup.
type KeyReport struct {
	Key  phone.Key `json:"key"`
	Kind string    `json:"kind"`
	// RedisKey is the sorted set read for the key.
	RedisKey string `json:"redisKey"`
	// Contacts is how many contacts the key finds.
	Contacts int64 `json:"contacts"`
}

// Explain reports the generation tenant is served from and what each of
// keys finds, in one pipeline. It is for calldexctl, not the ringing path:
// Lookup reads the same keys in its one script.
func (r *Redis) Explain(ctx context.Context, tenant string, keys []phone.Key) (string, []KeyReport, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return "", nil, fmt.Errorf("index explain %s: %w", tenant, err)
	}
	gen := r.generation(tenant)
	tk := tenantKeys(r.tenantBase(gen, tenant))
	out := make([]KeyReport, len(keys))
	cmds := make([]*redis.IntCmd, len(keys))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			out[i] = KeyReport{Key: k, Kind: k.Kind().String(), RedisKey: tk.phone(k)}
			cmds[i] = p.ZCard(ctx, tk.phone(k))
		}
		return nil
	})
	if err != nil {
		return gen, nil, fmt.Errorf("index explain %s: %w", tenant, err)
	}
	for i, c := range cmds {
		out[i].Contacts = c.Val()
	}
	return gen, out, nil
}
