package index

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
)

// A record is how Memory stores a contact: one immutable string holding the
// ref, the keys, the folded name words and every field of the contact,
// each length-prefixed. A million contacts are then a million pointers to
// memory the garbage collector never scans, instead of tens of millions of
// strings, slices and map entries it would mark on every cycle while the
// lookups it slows down wait. Decoding slices the record: the returned
// strings share it, and only the contact's slices are allocated.
type record string

// Layout, in order: ref, keys, words, then the contact's fields (see
// encodeRecord). Counts and lengths are uvarints.

// encodeRecord makes the record of e.
func encodeRecord(e Entry) record {
	c := e.Contact
	var w recordWriter
	w.str(ref(c.Source, c.ID))
	keys := dedupeKeys(e.Keys)
	w.num(uint64(len(keys)))
	for _, k := range keys {
		w.str(string(k))
	}
	words := FoldName(c.Name)
	w.num(uint64(len(words)))
	for _, s := range words {
		w.str(s)
	}
	for _, s := range []string{c.ID, c.Source, c.Type, c.Name, c.Title, c.Company, c.ContactURI, c.CompanyURI, c.CRMName, c.CRMLogo} {
		w.str(s)
	}
	w.num(uint64(len(c.Phones)))
	for _, p := range c.Phones {
		w.str(p.Raw)
		w.str(p.Normalized)
		w.str(p.Label)
	}
	w.extras(c)
	t, err := c.UpdatedAt.MarshalBinary()
	if err != nil {
		// Only an offset that is not a whole minute fails; keep the instant.
		t, _ = c.UpdatedAt.UTC().MarshalBinary()
	}
	w.str(string(t))
	w.str(binaryTime(c.CreatedAt))
	return record(w.b)
}

// binaryTime is t's MarshalBinary form, "" for the zero time (which then
// decodes as time.Time{} again).
func binaryTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	b, err := t.MarshalBinary()
	if err != nil {
		// Only an offset that is not a whole minute fails; keep the instant.
		b, _ = t.UTC().MarshalBinary()
	}
	return string(b)
}

type recordWriter struct{ b []byte }

func (w *recordWriter) num(n uint64) { w.b = binary.AppendUvarint(w.b, n) }

func (w *recordWriter) str(s string) {
	w.num(uint64(len(s)))
	w.b = append(w.b, s...)
}

// extras writes the fields after the phones: e-mails, custom data, routing.
func (w *recordWriter) extras(c events.Contact) {
	w.num(uint64(len(c.Emails)))
	for _, s := range c.Emails {
		w.str(s)
	}
	w.num(uint64(len(c.CustomData)))
	for _, kv := range c.CustomData {
		w.str(kv.Key)
		w.str(kv.Value)
	}
	r := c.Routing
	for _, s := range []string{r.DirectLine, r.RouteIdentifier, r.Language, r.OutboundNumber} {
		w.str(s)
	}
	if r.QueuePosition == nil {
		w.num(0)
	} else {
		w.num(1)
		w.b = binary.AppendVarint(w.b, int64(*r.QueuePosition))
	}
}

// recordReader reads a record front to back. Records are only ever made by
// encodeRecord, so a malformed one is a bug: it panics.
type recordReader struct {
	s string
	i int
}

func (r *recordReader) num() int {
	var v uint64
	for shift := 0; ; shift += 7 {
		b := r.s[r.i]
		r.i++
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return int(v)
		}
	}
}

func (r *recordReader) str() string {
	n := r.num()
	s := r.s[r.i : r.i+n]
	r.i += n
	return s
}

// fits panics unless n items of at least a byte each can follow: a
// corrupt count never allocates more than the record holds.
func (r *recordReader) fits(n int) {
	if n < 0 || n > len(r.s)-r.i {
		panic("count past the end")
	}
}

// extras reads what recordWriter.extras wrote into c.
func (r *recordReader) extras(c *events.Contact) {
	if n := r.num(); n > 0 {
		r.fits(n)
		c.Emails = make([]string, n)
		for i := range c.Emails {
			c.Emails[i] = r.str()
		}
	}
	if n := r.num(); n > 0 {
		r.fits(n)
		c.CustomData = make(events.CustomData, n)
		for i := range c.CustomData {
			c.CustomData[i] = events.KV{Key: r.str(), Value: r.str()}
		}
	}
	rt := &c.Routing
	for _, p := range []*string{&rt.DirectLine, &rt.RouteIdentifier, &rt.Language, &rt.OutboundNumber} {
		*p = r.str()
	}
	if r.num() == 1 {
		v, n := binary.Varint([]byte(r.s[r.i:min(r.i+binary.MaxVarintLen64, len(r.s))]))
		if n <= 0 {
			panic("bad queue position")
		}
		r.i += n
		q := int(v)
		rt.QueuePosition = &q
	}
}

// ref is the record's "source:id".
func (rec record) ref() string {
	r := recordReader{s: string(rec)}
	return r.str()
}

// hasKey tells whether k is one of the record's keys.
func (rec record) hasKey(k phone.Key) bool {
	r := recordReader{s: string(rec)}
	r.str()
	for n := r.num(); n > 0; n-- {
		if r.str() == string(k) {
			return true
		}
	}
	return false
}

// keys calls f with each of the record's keys.
func (rec record) keys(f func(phone.Key)) {
	r := recordReader{s: string(rec)}
	r.str()
	for n := r.num(); n > 0; n-- {
		f(phone.Key(r.str()))
	}
}

// indexed returns the record's keys and folded name words.
func (rec record) indexed() (keys []phone.Key, words []string) {
	rec.keys(func(k phone.Key) { keys = append(keys, k) })
	return keys, rec.words(nil)
}

// words appends the record's folded name words to buf.
func (rec record) words(buf []string) []string {
	r := recordReader{s: string(rec)}
	r.str()
	for n := r.num(); n > 0; n-- {
		r.str()
	}
	for n := r.num(); n > 0; n-- {
		buf = append(buf, r.str())
	}
	return buf
}

// contact decodes the contact. Its slices are new, so a caller changing
// them changes nothing stored.
func (rec record) contact() events.Contact {
	r := recordReader{s: string(rec)}
	r.str()
	for range 2 { // keys, words
		for n := r.num(); n > 0; n-- {
			r.str()
		}
	}
	var c events.Contact
	for _, p := range []*string{&c.ID, &c.Source, &c.Type, &c.Name, &c.Title, &c.Company, &c.ContactURI, &c.CompanyURI, &c.CRMName, &c.CRMLogo} {
		*p = r.str()
	}
	if n := r.num(); n > 0 {
		c.Phones = make([]events.Phone, n)
		for i := range c.Phones {
			c.Phones[i] = events.Phone{Raw: r.str(), Normalized: r.str(), Label: r.str()}
		}
	}
	r.extras(&c)
	if err := c.UpdatedAt.UnmarshalBinary([]byte(r.str())); err != nil {
		panic(fmt.Sprintf("index: corrupt memory record of %s: %v", c.ID, err))
	}
	// Records stored before contacts had a creation time end here (Redis
	// keeps them across versions).
	if r.i < len(r.s) {
		if b := r.str(); b != "" {
			if err := c.CreatedAt.UnmarshalBinary([]byte(b)); err != nil {
				panic(fmt.Sprintf("index: corrupt memory record of %s: %v", c.ID, err))
			}
		}
	}
	return c
}
