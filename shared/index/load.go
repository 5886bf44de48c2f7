package index

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/shared/phone"
)

// Load fills a generation that nothing reads or writes yet, a rebuild's
// before it is activated, for a fraction of what ApplyBatch costs Redis.
// ApplyBatch's script finds, for every phone key and name word of a
// contact, its place among what the index holds: some ten Redis calls per
// contact, most of them dearer in the call than in the work. A Load writes
// each stored contact as it comes (one HSET per batch) and keeps in memory
// what the index derives from it: its milliseconds, phone keys and name
// words, ~140 bytes a contact. Finish then writes the postings, each
// bucket's in one HSET, and the name index in pages filled to
// namePageFill, one ZADD each. The generation then holds what ApplyBatch
// would have written, but for where its name index is cut into pages and
// the ids its link templates got.
//
// After Finish the generation is written with ApplyBatch as usual. A Load
// is not safe for concurrent use.
type Load struct {
	rdb    redis.UniversalClient
	tk     tenantKeys
	tenant string
	// contacts is what the index derives from each contact loaded.
	contacts map[string]loaded
	// links maps a link template to its id (see redisdoc.go).
	links    map[string]string
	finished bool
}

// loaded is a contact's UpdatedAt ms, and its phone keys and name words
// encoded in one string (two slices of strings would double the memory).
type loaded struct {
	ms      int64
	indexed string
}

// namePageFill is how many members Finish puts in a page of the name
// index: room for 16 more before the first split.
const namePageFill = namePageMax * 3 / 4

// Load returns the bulk loader of the generation being built. It must be
// used before anything is written through Index.
func (b *Build) Load() *Load {
	return &Load{
		rdb:      b.r.rdb,
		tk:       tenantKeys(b.r.tenantBase(b.gen.ID, b.tenant)),
		tenant:   b.tenant,
		contacts: map[string]loaded{},
		links:    map[string]string{},
	}
}

// Len is how many contacts the load holds.
func (l *Load) Len() int { return len(l.contacts) }

// Apply loads changes as ApplyBatch would write them. A failed Apply may
// have written part of them; applying them again is safe.
func (l *Load) Apply(ctx context.Context, changes []Change) error {
	if err := checkCall(ctx, l.tenant); err != nil {
		return fmt.Errorf("index load %s: %w", l.tenant, err)
	}
	if l.finished {
		return fmt.Errorf("index load %s: already finished", l.tenant)
	}
	if err := checkBatch(l.tenant, changes); err != nil {
		return fmt.Errorf("index load %s: %w", l.tenant, err)
	}
	changes = lastPerContact(changes)
	var sets, newLinks []any
	var dels []string
	var added []string // link templates first used here
	for _, c := range changes {
		rf := c.ref()
		if c.Delete {
			delete(l.contacts, rf)
			// Also when not loaded: an Apply that failed may have
			// forgotten it before deleting it from Redis.
			dels = append(dels, rf)
			continue
		}
		doc, keys, words := encodeDoc(c.Entry)
		doc, text, fresh := l.stored(doc)
		if fresh {
			id := l.links[text]
			added = append(added, text)
			newLinks = append(newLinks, "="+text, id, id, text)
		}
		w := recordWriter{b: make([]byte, 0, 64)}
		w.num(uint64(len(keys)))
		for _, k := range keys {
			w.str(string(k))
		}
		for _, wd := range words {
			w.str(wd)
		}
		l.contacts[rf] = loaded{ms: c.Entry.Contact.UpdatedAt.UnixMilli(), indexed: string(w.b)}
		sets = append(sets, rf, doc)
	}
	pipe := l.rdb.Pipeline()
	if len(newLinks) > 0 {
		pipe.HSet(ctx, l.tk.links(), append(newLinks, "#", len(l.links))...)
	}
	if len(sets) > 0 {
		pipe.HSet(ctx, l.tk.rec(), sets...)
	}
	if len(dels) > 0 {
		pipe.HDel(ctx, l.tk.rec(), dels...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		// The templates are written again by the next Apply that uses them.
		for _, text := range added {
			delete(l.links, text)
		}
		return fmt.Errorf("index load %s: %w", l.tenant, err)
	}
	return nil
}

// stored is doc as stored: the link template in its header replaced by
// its id, as applyScript's asStored does; fresh when the template is new.
func (l *Load) stored(doc string) (stored, text string, fresh bool) {
	nl := strings.IndexByte(doc, '\n')
	tab := strings.Index(doc[:nl], "\t=")
	if tab < 0 {
		return doc, "", false
	}
	text = doc[tab+2 : nl]
	id, ok := l.links[text]
	if !ok {
		id = strconv.Itoa(len(l.links) + 1)
		l.links[text] = id
	}
	return doc[:tab+1] + id + doc[nl:], text, !ok
}

// posted is one entry of a posting being built.
type posted struct {
	key phone.Key
	ms  int64
	ref string
}

// Finish writes the postings and the name index of the contacts loaded,
// and releases them. Once it returned nil, Apply refuses, and the
// generation is written with ApplyBatch; after an error it may be called
// again.
func (l *Load) Finish(ctx context.Context) error {
	if err := checkCall(ctx, l.tenant); err != nil {
		return fmt.Errorf("index load %s: %w", l.tenant, err)
	}
	if l.finished {
		return nil
	}
	// The entries of every posting, by bucket (a counting sort: no
	// slice grows), and the name index's members.
	var ends [phoneBuckets + 1]int
	nNames := 0
	for _, c := range l.contacts {
		r := recordReader{s: c.indexed}
		for range r.num() {
			ends[bucketOf(phone.Key(r.str()))+1]++
		}
		for ; r.i < len(r.s); r.str() {
			nNames++
		}
	}
	for b := range phoneBuckets {
		ends[b+1] += ends[b]
	}
	all := make([]posted, ends[phoneBuckets])
	next := ends
	names := make([]string, 0, nNames)
	for rf, c := range l.contacts {
		r := recordReader{s: c.indexed}
		for range r.num() {
			k := phone.Key(r.str())
			b := bucketOf(k)
			all[next[b]] = posted{key: k, ms: c.ms, ref: rf}
			next[b]++
		}
		for r.i < len(r.s) {
			names = append(names, nameEntry(r.str(), rf))
		}
	}
	p := pipeWriter{rdb: l.rdb}
	// After an error, a pipeline may still be under way.
	defer func() { _ = p.wait() }()
	var keys int64
	var entries []byte
	for n := range phoneBuckets {
		ps := all[ends[n]:ends[n+1]]
		if len(ps) == 0 {
			continue
		}
		slices.SortFunc(ps, func(a, b posted) int {
			if c := strings.Compare(string(a.key), string(b.key)); c != 0 {
				return c
			}
			return newerFirst(a.ms, b.ms, a.ref, b.ref)
		})
		args := []any{"hset", l.tk.bucketN(uint32(n))}
		for i := 0; i < len(ps); {
			entries = entries[:0]
			j := i
			for ; j < len(ps) && ps[j].key == ps[i].key; j++ {
				entries = strconv.AppendInt(entries, int64(len(ps[j].ref)), 10)
				entries = append(entries, ':')
				entries = append(entries, ps[j].ref...)
			}
			args = append(args, string(ps[i].key), string(entries))
			keys++
			i = j
		}
		if err := p.do(ctx, args); err != nil {
			return fmt.Errorf("index load %s: postings: %w", l.tenant, err)
		}
	}
	all = nil
	if keys > 0 {
		// Set, not added: a Finish that failed may have set it.
		if err := p.do(ctx, []any{"hset", l.tk.count(), "keys", keys}); err != nil {
			return fmt.Errorf("index load %s: %w", l.tenant, err)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	bounds := []any{"zadd", l.tk.names()}
	for lo := 0; lo < len(names); lo += namePageFill {
		page := names[lo:min(lo+namePageFill, len(names))]
		bound := ""
		if lo > 0 {
			bound = page[0]
		}
		args := make([]any, 0, 2+2*len(page))
		args = append(args, "zadd", l.tk.page(bound))
		for _, m := range page {
			args = append(args, "0", m)
		}
		if err := p.do(ctx, args); err != nil {
			return fmt.Errorf("index load %s: names: %w", l.tenant, err)
		}
		bounds = append(bounds, "0", bound)
		if last := lo+namePageFill >= len(names); last || len(bounds) >= 2048 {
			if err := p.do(ctx, bounds); err != nil {
				return fmt.Errorf("index load %s: names: %w", l.tenant, err)
			}
			bounds = []any{"zadd", l.tk.names()}
		}
	}
	if err := p.flush(ctx); err != nil {
		return fmt.Errorf("index load %s: %w", l.tenant, err)
	}
	l.finished, l.contacts, l.links = true, nil, nil
	return nil
}

// pipeWriter sends commands in pipelines of some thousands of arguments,
// one under way while the next is built: Redis and the caller work at once.
type pipeWriter struct {
	rdb  redis.UniversalClient
	cmds [][]any
	args int
	// sent reports the pipeline under way, if any.
	sent chan error
}

// do queues a command, and sends the queue once it is long enough.
func (p *pipeWriter) do(ctx context.Context, args []any) error {
	p.cmds = append(p.cmds, args)
	p.args += len(args)
	if p.args < 1<<14 {
		return nil
	}
	return p.send(ctx)
}

// send waits for the pipeline under way, then sends the commands queued.
func (p *pipeWriter) send(ctx context.Context) error {
	if err := p.wait(); err != nil || len(p.cmds) == 0 {
		return err
	}
	pipe := p.rdb.Pipeline()
	for _, c := range p.cmds {
		pipe.Do(ctx, c...)
	}
	p.cmds, p.args = nil, 0
	p.sent = make(chan error, 1)
	go func(sent chan<- error) {
		cmds, err := pipe.Exec(ctx)
		for _, c := range cmds {
			if c.Err() != nil {
				err = c.Err()
				break
			}
		}
		sent <- err
	}(p.sent)
	return nil
}

// wait waits for the pipeline under way, if any.
func (p *pipeWriter) wait() error {
	if p.sent == nil {
		return nil
	}
	err := <-p.sent
	p.sent = nil
	return err
}

// flush sends the commands queued and waits until Redis ran them.
func (p *pipeWriter) flush(ctx context.Context) error {
	if err := p.send(ctx); err != nil {
		return err
	}
	return p.wait()
}
