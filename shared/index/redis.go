package index

import (
	"context"
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
// those of the query word that the fewest names start with (counted up to
// the cap: beyond it, the first such word), in byte order.
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
//	cdx:{acme}:recs       HASH  ref → the contact, stored (see encodeDoc)
//	cdx:{acme}:ph:1f3a    HASH  phone key → its posting: every contact found
//	                            under it, ranked (see applyScript)
//	cdx:{acme}:names      ZSET  the name index's directory: the lowest bound
//	                            of each of its pages (see namesLua)
//	cdx:{acme}:nm:<bound> ZSET  a page of the name index: "word\x00ref", score 0
//	cdx:{acme}:tally      HASH  keys → number of phone keys that find someone
//	cdx:{acme}:upto       STRING CONTACTS sequence the data is known complete to (Mark)
//	cdx:{acme}:links      HASH  the contact links' templates (see redisdoc.go)
//
// A ref is "source:id". Phone keys are spread over phoneBuckets hashes by a
// hash of the key: a million contacts' keys then sit some fifty to a hash,
// which Redis keeps as one compact listpack instead of a key (and its
// overheads) per phone number. The name index is cut into pages of at most
// namePageMax members for the same reason. A stored contact is one string:
// a header the scripts read ("<UpdatedAt ms> <word> <word>…\n"), then the
// contact in a compact encoding (redisdoc.go) that holds the phone keys it
// is indexed under, so that the next version can take them back exactly.
// Each contact is stored once; a lookup's script reads the postings of its
// candidate keys and returns the stored contacts it ranks first.
//
// The key names changed with each layout (see deploy/README.md, "Upgrading
// the Redis index layout"): a new layout's marker is missing, so the
// projector projects CONTACTS again into the new keys on its own.
//
// Once a tenant has been rebuilt (see Generation), its keys carry the
// generation too — cdx:g7:{acme}:recs and so on — and the index reads the
// generation each tenant is served from in a table it keeps in memory
// (Refresh, Follow): a lookup still takes one round trip.
//
// Every key a script touches is passed in KEYS but the name index's pages,
// which the scripts find in its directory, and the link templates; they
// share the tenant's hash tag and so its Cluster slot (servers that insist on declared keys, such as
// Dragonfly, need its allow-undeclared-keys script flag). Lookup and
// SearchName know their keys up front; Upsert, Delete and ApplyBatch learn
// a contact's current keys from its stored contact and retry
// optimistically if it changed meanwhile.
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

func (k tenantKeys) rec() string   { return string(k) + "recs" }
func (k tenantKeys) names() string { return string(k) + "names" }
func (k tenantKeys) count() string { return string(k) + "tally" }
func (k tenantKeys) mark() string  { return string(k) + "upto" }
func (k tenantKeys) links() string { return string(k) + "links" }

// page is the key of the name index page whose lowest bound is bound.
func (k tenantKeys) page(bound string) string { return string(k) + "nm:" + bound }

// phoneBuckets is how many hashes hold a tenant's phone keys. Redis keeps
// a hash as a listpack up to hash-max-listpack-entries (512 by default)
// fields of up to hash-max-listpack-value (64) bytes: a tenant of up to
// ~10M contacts (1.5 numbers, 3 keys each) stays within it. Larger tenants
// still work, in larger hash tables.
const phoneBuckets = 1 << 16

// bucket names the hash holding pk's posting.
func (k tenantKeys) bucket(pk phone.Key) string { return k.bucketN(bucketOf(pk)) }

// bucketN names the hash of bucket number n.
func (k tenantKeys) bucketN(n uint32) string {
	return string(k) + "ph:" + strconv.FormatUint(uint64(n), 16)
}

// bucketOf is the number of the bucket holding pk's posting: FNV-1a of the
// key.
func bucketOf(pk phone.Key) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(pk); i++ {
		h ^= uint32(pk[i])
		h *= 16777619
	}
	return h % phoneBuckets
}

// postingLua are the Lua helpers of the scripts for postings. A posting is
// the concatenation of its entries, "len:ref", ranked: UpdatedAt in Unix ms
// descending, then ref descending (Redis's ZREVRANGE order, which
// newerFirst mirrors). Counted refs let a ref hold any byte. The ranks'
// milliseconds are in the stored contacts' headers, not repeated in every
// posting: a posting naming a contact that is not stored is corrupt.
const postingLua = `
local function entry(ref)
  return #ref .. ':' .. ref
end
-- each calls f(ref, first, last) for every entry of p, in order, until f
-- returns true.
local function each(p, f)
  local pos = 1
  while pos <= #p do
    local c = string.find(p, ':', pos, true)
    local n = c and tonumber(string.sub(p, pos, c - 1))
    if not n or n < 1 or c + n > #p then
      error('index: corrupt posting at ' .. pos)
    end
    if f(string.sub(p, c + 1, c + n), pos, c + n) then return end
    pos = c + n + 1
  end
end
local function notStored(ref)
  error('index: posting names ' .. ref .. ', not stored as a contact')
end
-- msOf is the UpdatedAt ms in the header of ref's stored contact doc.
local function msOf(doc, ref)
  local ms = doc and tonumber(string.match(doc, '^(%-?%d+)[ \t\n]'))
  if not ms then notStored(ref) end
  return ms
end
`

// linksLua are the Lua helpers of the scripts for link templates (see
// redisdoc.go): the tenant's links hash (KEYS[1], rec, with "links" for
// "recs": not in KEYS, in the tenant's slot) maps "=<template>" to its id,
// the id to the template, and "#" counts the ids.
const linksLua = `
local links = string.sub(KEYS[1], 1, -5) .. 'links'
local linkCache = {}
-- linkField is HGET links f, read once per script.
local function linkField(f)
  local v = linkCache[f]
  if v == nil then
    v = redis.call('HGET', links, f) or false
    linkCache[f] = v
  end
  return v
end
-- headerLink is where mark starts doc's header link, and where the header
-- ends; nil without one.
local function headerLink(doc, mark)
  local nl = string.find(doc, '\n', 1, true)
  local at = string.find(doc, mark, 1, true)
  if nl and at and at < nl then return at, nl end
end
-- expand is doc as the client reads it: the link template's id in its
-- header replaced by "=" and the template.
local function expand(doc)
  local tab, nl = headerLink(doc, '\t')
  if not tab then return doc end
  local id = string.sub(doc, tab + 1, nl - 1)
  local text = linkField(id)
  if not text then error('index: unknown link template ' .. id) end
  return string.sub(doc, 1, tab) .. '=' .. text .. string.sub(doc, nl)
end
-- asStored is doc as stored: the link template in its header replaced by
-- its id, given on first use.
local function asStored(doc)
  local tab, nl = headerLink(doc, '\t=')
  if not tab then return doc end
  local text = string.sub(doc, tab + 2, nl - 1)
  local id = linkField('=' .. text)
  if not id then
    id = tostring(redis.call('HINCRBY', links, '#', 1))
    redis.call('HSET', links, '=' .. text, id, id, text)
    linkCache['=' .. text], linkCache[id] = id, text
  end
  return string.sub(doc, 1, tab) .. id .. string.sub(doc, nl)
end
`

// namePageMax is how many members a page of the name index holds at most
// before it is split in two: below zset-max-listpack-entries (128 by
// default), so that Redis keeps every page as one listpack.
const namePageMax = 64

// namesLua are the Lua helpers of the scripts for the name index: the
// members "word\x00ref" (score 0) of a tenant, in pages of at most
// namePageMax, each a sorted set whose key ends in its lowest bound
// ("…:nm:<bound>"); the directory (KEYS[2], "…:names") is the sorted set of
// the bounds, the lowest "". Byte order over all pages is that of one sorted
// set, so ZRANGEBYLEX works across them. Pages are found through the
// directory, so they are not in KEYS; they carry the tenant's hash tag, and
// so its slot.
var namesLua = `
-- (Scores are passed as the string '0': Lua would format the number with
-- sprintf on every call.)
local names, pages = KEYS[2], string.sub(KEYS[2], 1, -6) .. 'nm:'
local function pageOf(m)
  return redis.call('ZREVRANGEBYLEX', names, '[' .. m, '-', 'LIMIT', 0, 1)[1]
end
local function nameAdd(m)
  local b = pageOf(m)
  if b == nil then
    b = ''
    redis.call('ZADD', names, '0', b)
  end
  local page = pages .. b
  redis.call('ZADD', page, '0', m)
  if redis.call('ZCARD', page) > ` + namePageMaxLua + ` then
    local upper = redis.call('ZRANGE', page, ` + namePageHalfLua + `, -1)
    redis.call('ZREM', page, unpack(upper))
    local args = {}
    for i, u in ipairs(upper) do
      args[2 * i - 1], args[2 * i] = '0', u
    end
    redis.call('ZADD', pages .. upper[1], unpack(args))
    redis.call('ZADD', names, '0', upper[1])
  end
end
local function nameRemove(m)
  local b = pageOf(m)
  if b == nil then return end
  if redis.call('ZREM', pages .. b, m) == 1 and redis.call('ZCARD', pages .. b) == 0 then
    -- The lowest page ("") stays while others do: it takes what sorts
    -- before them.
    if b ~= '' then redis.call('ZREM', names, b) end
    if redis.call('ZCARD', names) == 1 and redis.call('EXISTS', pages) == 0 then
      redis.call('DEL', names)
    end
  end
end
-- eachPage calls f(page) for the pages that may hold members in [lo, hi),
-- in order, until f returns true.
local function eachPage(lo, hi, f)
  local b = pageOf(lo)
  if b == nil or f(pages .. b) then return end
  while true do
    local more = redis.call('ZRANGEBYLEX', names, '(' .. b, '(' .. hi, 'LIMIT', 0, 32)
    for _, n in ipairs(more) do
      if f(pages .. n) then return end
    end
    if #more < 32 then return end
    b = more[#more]
  end
end
`

var (
	namePageMaxLua  = strconv.Itoa(namePageMax)
	namePageHalfLua = strconv.Itoa(namePageMax / 2)
)

// applyScript replaces (or, with an empty new stored contact, deletes)
// contacts atomically, each provided its stored contact is still the one
// the caller saw; a contact stored otherwise is left as it is, and returned
// for the caller to retry. The contacts are distinct. Once the script has
// walked applyWork posting entries (numbers many contacts share), it
// returns the contacts left the same way: a script that runs long holds up
// every other client of Redis, lookups and Sentinel's health checks too.
//
// KEYS: rec, names, count, then, contact after contact, the bucket of each
// phone key the contact leaves, then of each it has. ARGV, contact after
// contact: ref, stored contact seen (empty: absent), new stored contact
// (empty: delete), UpdatedAt ms, #phone keys, #those it leaves, #name
// members to remove, #name members to add, the phone keys (in the order of
// their buckets), the name members to remove, then those to add (see
// applyArgs). Returns {i, current stored contact, …} for each contact i
// (1-based) whose stored contact was not the one seen, or that the script
// left for lack of time; {} when all were written.
//
// Each posting touched is rewritten without ref, then, for the keys the
// contact has, with ref at its rank; a contact that was absent creates a
// posting with HSETNX, one call, in the common case (a new number).
// count.keys changes when a posting is emptied or created, so it counts
// phone keys that find at least one contact; the contact count is HLEN rec.
var applyScript = redis.NewScript(postingLua + namesLua + linksLua + `
local refs, starts = {}, {}
local a = 1
while a <= #ARGV do
  refs[#refs + 1], starts[#starts + 1] = ARGV[a], a
  a = a + 8 + tonumber(ARGV[a + 4]) + tonumber(ARGV[a + 6]) + tonumber(ARGV[a + 7])
end
local stored = redis.call('HMGET', KEYS[1], unpack(refs))
-- written: the ms of the contacts this script stored, which rec holds
-- only once it ends.
local out, sets, dels, written = {}, {}, {}, {}
local dkeys, k, work = 0, 4, 0
for c, a in ipairs(starts) do
  local ref, nKeys = ARGV[a], tonumber(ARGV[a + 4])
  local cur = stored[c] or ''
  if cur ~= ARGV[a + 1] or work > ` + applyWorkLua + ` then
    out[#out + 1] = c
    out[#out + 1] = cur
    k = k + nKeys
  else
    local nms, nLeft, nOld, nNew = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7])
    local fresh, ent = cur == '', entry(ref)
    for i = 1, nKeys do
      local bucket, field, add = KEYS[k], ARGV[a + 7 + i], i > nLeft
      k = k + 1
      if fresh and add and redis.call('HSETNX', bucket, field, ent) == 1 then
        dkeys = dkeys + 1
      else
        local p = redis.call('HGET', bucket, field)
        if not p then
          if add then
            redis.call('HSET', bucket, field, ent)
            dkeys = dkeys + 1
          end
        else
          local others, spans = {}, {}
          each(p, function(r, first, last)
            if r ~= ref then
              others[#others + 1], spans[#spans + 1] = r, string.sub(p, first, last)
            end
          end)
          work = work + #others
          -- ref's rank: the first entry it ranks above, found by binary
          -- search (the ms of log2(n) stored contacts, not of all n).
          local at = #others + 1
          if add then
            local lo = 1
            while lo < at do
              local mid = math.floor((lo + at) / 2)
              local r = others[mid]
              local m = written[r] or msOf(redis.call('HGET', KEYS[1], r), r)
              if nms > m or (nms == m and ref > r) then at = mid else lo = mid + 1 end
            end
            table.insert(spans, at, ent)
          end
          local parts = spans
          if #parts == 0 then
            redis.call('HDEL', bucket, field)
            dkeys = dkeys - 1
          else
            redis.call('HSET', bucket, field, table.concat(parts))
          end
        end
      end
    end
    local n = a + 8 + nKeys
    for i = n, n + nOld - 1 do
      nameRemove(ARGV[i])
    end
    if ARGV[a + 2] == '' then
      dels[#dels + 1] = ref
    else
      written[ref] = nms
      sets[#sets + 1] = ref
      sets[#sets + 1] = asStored(ARGV[a + 2])
      for i = n + nOld, n + nOld + nNew - 1 do
        nameAdd(ARGV[i])
      end
    end
  end
end
if #sets > 0 then redis.call('HSET', KEYS[1], unpack(sets)) end
if #dels > 0 then redis.call('HDEL', KEYS[1], unpack(dels)) end
if dkeys ~= 0 then
  redis.call('HINCRBY', KEYS[3], 'keys', dkeys)
end
return out
`)

// lookupScript answers a lookup in one round trip.
//
// KEYS: rec, then the bucket of each candidate. ARGV: limit, then each
// candidate's phone key and kind (0 exact, 1 tail). Returns {kind, stored
// contact, kind, stored contact…}.
//
// Ranking is (kind, UpdatedAt desc, ref desc), each contact once with its
// best kind. Taking only the first limit entries of each posting is
// enough: a contact's UpdatedAt is the same in every posting, and all
// entries of one posting share its kind, so within a posting its order is
// the global order. If a contact c is missing from the first limit of the
// posting k that gives it its best rank, then limit other contacts sit
// above it in k; they are distinct, all read, and each ranks at least as
// well as through k, hence above c: c is not in the global top limit. So
// every contact of the true top limit is read through its best key, with
// its true rank, and one read only through a worse key (ranked too low) is
// outranked by limit others anyway and never returned.
var lookupScript = redis.NewScript(postingLua + linksLua + `
local limit = tonumber(ARGV[1])
local seen, hits = {}, {}
for i = 2, #KEYS do
  local p = redis.call('HGET', KEYS[i], ARGV[2 * i - 2])
  if p then
    local kind, n = tonumber(ARGV[2 * i - 1]), 0
    each(p, function(ref)
      local h = seen[ref]
      if h == nil then
        local doc = redis.call('HGET', KEYS[1], ref)
        if not doc then notStored(ref) end
        h = {ref, kind, 0, doc}
        seen[ref] = h
        hits[#hits + 1] = h
      elseif kind < h[2] then
        h[2] = kind
      end
      n = n + 1
      return n >= limit
    end)
  end
end
-- A single hit, the common answer, needs no rank.
if #hits > 1 then
  for _, h in ipairs(hits) do
    h[3] = msOf(h[4], h[1])
  end
  table.sort(hits, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    if a[3] ~= b[3] then return a[3] > b[3] end
    return a[1] > b[1]
  end)
end
local out = {}
for i = 1, math.min(limit, #hits) do
  out[#out + 1] = hits[i][2]
  out[#out + 1] = expand(hits[i][4])
end
return out
`)

// searchScript answers a name search in one round trip. It scans the name
// entries of the most selective query word only (counted page by page, up
// to the cap), then checks the other words against each candidate's stored
// header, so only that one word is subject to the cap.
//
// KEYS: rec, names. ARGV: limit, cap, folded query words.
// Ranked by whole-word hits desc, UpdatedAt desc, ref desc. Returns stored
// contacts.
var searchScript = redis.NewScript(namesLua + linksLua + `
local limit, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local best, bestN
for i = 3, #ARGV do
  local q, n = ARGV[i], 0
  eachPage(q, q .. '\255', function(page)
    n = n + redis.call('ZLEXCOUNT', page, '[' .. q, '(' .. q .. '\255')
    return n > cap
  end)
  if n == 0 then return {} end
  if bestN == nil or n < bestN then best, bestN = q, n end
end
local entries = {}
eachPage(best, best .. '\255', function(page)
  local got = redis.call('ZRANGEBYLEX', page, '[' .. best, '(' .. best .. '\255', 'LIMIT', 0, cap - #entries)
  for _, e in ipairs(got) do
    entries[#entries + 1] = e
  end
  return #entries >= cap
end)
local seen, hits = {}, {}
for _, e in ipairs(entries) do
  local ref = string.sub(e, string.find(e, '\0', 1, true) + 1)
  if not seen[ref] then
    seen[ref] = true
    local doc = redis.call('HGET', KEYS[1], ref)
    if doc then
      if not string.find(doc, '\n', 1, true) then error('index: stored contact without header: ' .. ref) end
      local header = string.match(doc, '^[^\t\n]*')
      local ms, words = nil, {}
      for w in string.gmatch(header, '[^ ]+') do
        if ms == nil then ms = tonumber(w) else words[#words + 1] = w end
      end
      local whole, ok = 0, true
      for i = 3, #ARGV do
        local q, found, equal = ARGV[i], false, false
        for _, w in ipairs(words) do
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
      if ok then hits[#hits + 1] = {ref, whole, ms or 0, doc} end
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
  out[#out + 1] = expand(hits[i][4])
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

// maxPipeline bounds the contacts ApplyBatch writes in one pipeline, and
// pipelinesInFlight how many it has under way at once, each on its own
// connection: while Redis runs one, the next is encoded, so Redis does not
// wait for the client between pipelines. Each script runs alone, but Redis
// serves other clients (the lookups) between the scripts of a pipeline, as
// it reads it in chunks.
const (
	maxPipeline       = 250
	pipelinesInFlight = 2
)

// applyWork is how many posting entries one applyScript walks before it
// leaves its remaining contacts to the next: some milliseconds of Lua.
const applyWork = 5000

var applyWorkLua = strconv.Itoa(applyWork)

// scriptContacts is how many contacts one applyScript writes: one call's
// overheads (and one HMGET, HSET and HINCRBY) shared by many contacts,
// while a script stays short enough (well under a millisecond) not to hold
// up the lookups Redis serves between two.
const scriptContacts = 25

// ApplyBatch applies changes of one tenant as Upsert and Delete would, one
// after the other, in far fewer round trips: per 250 contacts, new or
// changed, one HMGET reads what each contact is indexed under now and one
// pipeline runs the compare-and-set scripts, each for 25 contacts; a contact
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
	// next is the new stored contact; "" deletes the contact.
	next  string
	score int64
	keys  []phone.Key
	words []string
	// seen is the stored contact believed to be there now ("" absent):
	// what the script undoes, and its compare-and-set condition.
	seen string
}

func newWrite(c Change) (write, error) {
	w := write{ref: c.ref()}
	if c.Delete {
		return w, nil
	}
	w.score = c.Entry.Contact.UpdatedAt.UnixMilli()
	w.next, w.keys, w.words = encodeDoc(c.Entry)
	return w, nil
}

// apply runs applyScript for one contact until it succeeds: it first
// assumes the contact is absent (true for every write of a rebuild, so one
// round trip), and on a mismatch retries with the stored contact the
// script handed back.
func (r *Redis) apply(ctx context.Context, tk tenantKeys, w *write) error {
	todo := []*write{w}
	for range maxApplyAttempts {
		keys, args, err := applyArgs(tk, todo)
		if err != nil {
			return err
		}
		res, err := applyScript.Run(ctx, r.rdb, keys, args...).Slice()
		if err != nil {
			return err
		}
		if todo, err = settle(todo, res); len(todo) == 0 || err != nil {
			return err
		}
	}
	return fmt.Errorf("contact %s changed %d times while being written", w.ref, maxApplyAttempts)
}

// applyPipelined writes ws (each contact once) with one HMGET of their
// stored contacts, then pipelines of applyScript, scriptContacts contacts a
// script, until every compare-and-set succeeded. A NOSCRIPT reply (Redis
// lost its script cache) loads the script and runs those contacts again.
func (r *Redis) applyPipelined(ctx context.Context, tk tenantKeys, ws []write) error {
	refs := make([]string, len(ws))
	for i := range ws {
		refs[i] = ws[i].ref
	}
	seen, err := r.rdb.HMGet(ctx, tk.rec(), refs...).Result()
	if err != nil {
		return err
	}
	todo := make([]*write, len(ws))
	for i := range ws {
		ws[i].seen, _ = seen[i].(string) // nil: absent
		todo[i] = &ws[i]
	}
	for range maxApplyAttempts {
		var groups [][]*write
		for lo := 0; lo < len(todo); lo += scriptContacts {
			groups = append(groups, todo[lo:min(lo+scriptContacts, len(todo))])
		}
		cmds := make([]*redis.Cmd, len(groups))
		pipe := r.rdb.Pipeline()
		for i, g := range groups {
			keys, args, err := applyArgs(tk, g)
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
				again = append(again, groups[i]...)
				continue
			}
			if err != nil {
				return err
			}
			left, err := settle(groups[i], res)
			if err != nil {
				return err
			}
			again = append(again, left...)
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

// settle reads applyScript's reply for ws: the contacts not written yet,
// each with the contact stored now to undo on the next attempt.
func settle(ws []*write, res []any) ([]*write, error) {
	if len(res)%2 != 0 {
		return nil, fmt.Errorf("unexpected script reply %v", res)
	}
	var left []*write
	for i := 0; i < len(res); i += 2 {
		n, ok := res[i].(int64)
		cur, ok2 := res[i+1].(string)
		if !ok || !ok2 || n < 1 || int(n) > len(ws) {
			return nil, fmt.Errorf("unexpected script reply %v", res)
		}
		w := ws[n-1]
		w.seen = cur
		left = append(left, w)
	}
	return left, nil
}

// applyArgs builds applyScript's KEYS and ARGV for ws from the contact
// stored now (what to undo) and the write. Only what changes is undone:
// the phone keys and name words the contact leaves. Keys it keeps are
// passed again, as the new ones, so that their postings move it to its new
// rank; words it keeps are not passed at all (their score is always 0). A
// changed contact whose numbers stay (most CRM edits) so costs Redis far
// fewer commands than undoing and redoing everything, with the same
// result: the script writes it only if the contact stored is still the
// one seen.
func applyArgs(tk tenantKeys, ws []*write) ([]string, []any, error) {
	keys := []string{tk.rec(), tk.names(), tk.count()}
	var args []any
	for _, w := range ws {
		var prevKeys []phone.Key
		var prevWords []string
		if w.seen != "" {
			var err error
			if prevKeys, prevWords, err = storedIndexed(w.seen); err != nil {
				return nil, nil, fmt.Errorf("stored contact %s: %w", w.ref, err)
			}
		}
		upsert := w.next != ""
		var sets []phone.Key
		for _, k := range prevKeys {
			if !upsert || !containsKey(w.keys, k) {
				sets = append(sets, k)
			}
		}
		left := len(sets)
		var leftNames, joinedNames []any
		for _, wd := range prevWords {
			if !upsert || !slices.Contains(w.words, wd) {
				leftNames = append(leftNames, nameEntry(wd, w.ref))
			}
		}
		if upsert {
			sets = append(sets, w.keys...)
			for _, wd := range w.words {
				if !slices.Contains(prevWords, wd) {
					joinedNames = append(joinedNames, nameEntry(wd, w.ref))
				}
			}
		}
		args = append(args, w.ref, w.seen, w.next, w.score, len(sets), left, len(leftNames), len(joinedNames))
		for _, k := range sets {
			keys = append(keys, tk.bucket(k))
			args = append(args, string(k))
		}
		args = append(args, leftNames...)
		args = append(args, joinedNames...)
	}
	return keys, args, nil
}

// nameEntry is a member of the name index. Folded words never contain NUL,
// so the first NUL ends the word whatever the ref holds.
func nameEntry(word, rf string) string { return word + "\x00" + rf }

// Lookup returns at most limit contacts found under any of keys, exact
// matches first, then newest first, in exactly one round trip: lookupScript
// (EVALSHA; after Redis lost its script cache, an EVAL too), sent with the
// lookups of other callers under load.
func (r *Redis) Lookup(ctx context.Context, tenant string, keys []phone.Key, limit int) ([]Match, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return nil, fmt.Errorf("index lookup %s: %w", tenant, err)
	}
	if limit <= 0 || len(keys) == 0 {
		return nil, nil
	}
	tk := r.keys(tenant)
	rkeys := make([]string, 0, len(keys)+1)
	args := make([]any, 0, 2*len(keys)+1)
	rkeys = append(rkeys, tk.rec())
	args = append(args, limit)
	for _, k := range keys {
		rkeys = append(rkeys, tk.bucket(k))
		args = append(args, string(k), int(k.Kind()))
	}
	res, err := r.lookups.run(ctx, rkeys, args)
	if err != nil {
		return nil, fmt.Errorf("index lookup %s: %w", tenant, err)
	}
	out := make([]Match, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		kind, ok := res[i].(int64)
		if !ok {
			return nil, fmt.Errorf("index lookup %s: unexpected kind %v", tenant, res[i])
		}
		c, err := decodeStored(res[i+1])
		if err != nil {
			return nil, fmt.Errorf("index lookup %s: %w", tenant, err)
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
	keys := []string{tk.rec(), tk.names()}
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
		c, err := decodeStored(doc)
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
		contacts = p.HLen(ctx, tk.rec())
		keys = p.HGet(ctx, tk.count(), "keys")
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

// KeyReport is what one candidate key finds, for explaining a lookup.
type KeyReport struct {
	Key  phone.Key `json:"key"`
	Kind string    `json:"kind"`
	// RedisKey is the hash whose field Key holds the key's posting.
	RedisKey string `json:"redisKey"`
	// Contacts is how many contacts the key finds.
	Contacts int64 `json:"contacts"`
}

// Explain reports the generation tenant is served from and what each of
// keys finds, in one pipeline. It is for calldexctl, not the ringing path:
// Lookup reads the same postings in its one script.
func (r *Redis) Explain(ctx context.Context, tenant string, keys []phone.Key) (string, []KeyReport, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return "", nil, fmt.Errorf("index explain %s: %w", tenant, err)
	}
	gen := r.generation(tenant)
	tk := tenantKeys(r.tenantBase(gen, tenant))
	out := make([]KeyReport, len(keys))
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			out[i] = KeyReport{Key: k, Kind: k.Kind().String(), RedisKey: tk.bucket(k)}
			cmds[i] = p.HGet(ctx, tk.bucket(k), string(k))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return gen, nil, fmt.Errorf("index explain %s: %w", tenant, err)
	}
	for i, c := range cmds {
		n, err := postingLen(c.Val())
		if err != nil {
			return gen, nil, fmt.Errorf("index explain %s: posting of %s: %w", tenant, keys[i], err)
		}
		out[i].Contacts = n
	}
	return gen, out, nil
}

// postingLen counts the entries of a posting ("len:ref"…).
func postingLen(p string) (int64, error) {
	var n int64
	for p != "" {
		size, rest, ok := strings.Cut(p, ":")
		l, err := strconv.Atoi(size)
		if !ok || err != nil || l < 1 || l > len(rest) {
			return n, fmt.Errorf("bad entry %.20q", p)
		}
		p = rest[l:]
		n++
	}
	return n, nil
}
