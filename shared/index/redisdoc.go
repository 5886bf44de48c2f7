package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
)

// A contact stored in Redis is one string: a header the scripts read,
// "<UpdatedAt ms> <word> <word>…[\t<link template id>]\n" (folded words
// hold letters and digits only), then a body in Go's own compact encoding. A million of them are
// most of a tenant's memory, so the body holds nothing twice: not the ref
// (the hash field), the name words or UpdatedAt's milliseconds (the
// header), and what the phone keys and links repeat is written as a
// reference:
//
//   - a key is "e:+", "d:" or "t:" and its digits by a tag, and a tail key
//     ("t:") whose digits end the key before it as their length only;
//   - a phone's Normalized that is an "e:" key's number is that key's index;
//   - a contact link holding the contact's ID is written without it, and
//     what comes before the ID, the tenant's CRM address usually, as a link
//     template: once per tenant (…:links), and in the header by its id,
//     which the scripts replace by the template in what they return;
//   - the company link is what it shares with the contact link plus the rest;
//   - UpdatedAt is the header's milliseconds plus what finer remains and
//     its zone offset, in three bytes.
//
// Counts and lengths are uvarints, as in the record (memrecord.go).

// Key tags of the body.
const (
	keyLiteral = iota
	keyE164    // "e:+" and digits
	keyDigits  // "d:" and digits
	keyTail    // "t:" and the last n digits of the key before
)

// Link and time tags of the body.
const (
	linkLiteral = iota
	linkAroundID
	linkTemplate // the header's link template, the ID, then the rest
)

// minLinkTemplate is the shortest start of a contact link (before its ID)
// worth a link template: the tenant's CRM address, usually.
const minLinkTemplate = 12

const (
	timeLiteral = iota
	timeFromHeader
)

// encodeDoc is how e is stored, with the phone keys and name words it is
// indexed under.
func encodeDoc(e Entry) (doc string, keys []phone.Key, words []string) {
	c := e.Contact
	keys = dedupeKeys(e.Keys)
	words = FoldName(c.Name)
	ms := c.UpdatedAt.UnixMilli()
	b := strconv.AppendInt(make([]byte, 0, 320), ms, 10)
	for _, w := range words {
		b = append(b, ' ')
		b = append(b, w...)
	}
	pre, post, around := strings.Cut(c.ContactURI, c.ID)
	around = around && c.ID != ""
	template := around && len(pre) >= minLinkTemplate && !strings.ContainsAny(pre, "\t\n")
	if template {
		b = append(b, "\t="...)
		b = append(b, pre...)
	}
	w := recordWriter{b: append(b, '\n')}

	w.num(uint64(len(keys)))
	prev := ""
	for _, k := range keys {
		prev = w.key(k, prev)
	}
	for _, s := range []string{c.ID, c.Source, c.Type, c.Name, c.Title, c.Company} {
		w.str(s)
	}
	switch {
	case template:
		w.num(linkTemplate)
		w.str(post)
	case around:
		w.num(linkAroundID)
		w.str(pre)
		w.str(post)
	default:
		w.num(linkLiteral)
		w.str(c.ContactURI)
	}
	shared := commonPrefix(c.ContactURI, c.CompanyURI)
	w.num(uint64(shared))
	w.str(c.CompanyURI[shared:])
	w.str(c.CRMName)
	w.str(c.CRMLogo)
	w.num(uint64(len(c.Phones)))
	for _, p := range c.Phones {
		w.str(p.Raw)
		if i := e164Key(keys, p.Normalized); i >= 0 {
			w.num(uint64(i) + 1)
		} else {
			w.num(0)
			w.str(p.Normalized)
		}
		w.str(p.Label)
	}
	w.extras(c)
	w.time(c.UpdatedAt, ms)
	w.str(binaryTime(c.CreatedAt))
	return string(w.b), keys, words
}

// key writes k, tagged; prev is the digits of the key before, which a
// tail key may end. It returns k's digits.
func (w *recordWriter) key(k phone.Key, prev string) string {
	s := string(k)
	var tag uint64
	var digits string
	switch {
	case strings.HasPrefix(s, "e:+"):
		tag, digits = keyE164, s[3:]
	case strings.HasPrefix(s, "d:"):
		tag, digits = keyDigits, s[2:]
	case strings.HasPrefix(s, "t:") && len(s) > 2 && strings.HasSuffix(prev, s[2:]):
		w.num(keyTail)
		w.num(uint64(len(s) - 2))
		return s[2:]
	default:
		w.num(keyLiteral)
		w.str(s)
		return ""
	}
	w.num(tag)
	w.str(digits)
	return digits
}

// time writes t, whose Unix milliseconds ms the header holds: as the
// nanoseconds past ms and the zone offset of its MarshalBinary form, when
// that form is the 15-byte one with a whole-minute offset; whole otherwise.
func (w *recordWriter) time(t time.Time, ms int64) {
	b, err := t.MarshalBinary()
	if err != nil {
		// Only an offset that is not a whole minute fails; keep the instant.
		b, _ = t.UTC().MarshalBinary()
	}
	if len(b) == 15 {
		extra := b[9:13]
		nsec := int64(binary.BigEndian.Uint32(extra)) - floorMod(ms, 1000)*1e6
		if nsec >= 0 && nsec < 1e6 && string(timeBinary(ms, nsec, b[13:15])) == string(b) {
			w.num(timeFromHeader)
			w.num(uint64(nsec))
			w.b = append(w.b, b[13:15]...)
			return
		}
	}
	w.num(timeLiteral)
	w.str(string(b))
}

// timeBinary is the MarshalBinary form (version 1) of the instant ms
// milliseconds and nsec nanoseconds after the Unix epoch, at offset (two
// bytes, minutes east of UTC, -1 for UTC).
func timeBinary(ms, nsec int64, offset []byte) []byte {
	const unixToInternal = 62135596800 // seconds from year 1 to 1970
	sec := floorDiv(ms, 1000) + unixToInternal
	b := make([]byte, 15)
	b[0] = 1
	binary.BigEndian.PutUint64(b[1:9], uint64(sec))
	binary.BigEndian.PutUint32(b[9:13], uint32(floorMod(ms, 1000)*1e6+nsec))
	copy(b[13:15], offset)
	return b
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// e164Key is the index of the "e:" key of number n among keys, or -1.
func e164Key(keys []phone.Key, n string) int {
	if n == "" {
		return -1
	}
	for i, k := range keys {
		if len(k) == len(n)+2 && strings.HasPrefix(string(k), "e:") && string(k[2:]) == n {
			return i
		}
	}
	return -1
}

// errNoHeader: a stored contact without its header line.
var errNoHeader = errors.New("no header")

// storedHeader is what the header of a stored contact holds.
type storedHeader struct {
	ms    int64
	words string // separated by spaces
	// link is the contact link's template, as a script returns it
	// ("\t=<template>"); linkID is set when it is only its id, as stored.
	link   string
	linkID bool
}

// docHeader splits a stored contact into its header and its body. The
// header is "<ms>[ <word>…][\t<link template id>|\t=<link template>]\n".
func docHeader(v any) (h storedHeader, body string, err error) {
	doc, ok := v.(string)
	if !ok {
		return h, "", fmt.Errorf("unexpected stored contact %T", v)
	}
	head, body, ok := strings.Cut(doc, "\n")
	if !ok {
		return h, "", fmt.Errorf("stored contact %.20q: %w", doc, errNoHeader)
	}
	head, link, hasLink := strings.Cut(head, "\t")
	if hasLink {
		h.link, h.linkID = strings.CutPrefix(link, "=")
		h.linkID = !h.linkID
	}
	msText, words, _ := strings.Cut(head, " ")
	if h.ms, err = strconv.ParseInt(msText, 10, 64); err != nil {
		return h, "", fmt.Errorf("stored contact %.20q: bad header: %w", doc, err)
	}
	h.words = words
	return h, body, nil
}

// docKeys reads the keys at the start of a body.
func (r *recordReader) docKeys() []phone.Key {
	n := r.num()
	r.fits(n)
	keys := make([]phone.Key, 0, n)
	prev := ""
	for range n {
		var k string
		switch r.num() {
		case keyE164:
			prev = r.str()
			k = "e:+" + prev
		case keyDigits:
			prev = r.str()
			k = "d:" + prev
		case keyTail:
			l := r.num()
			k, prev = "t:"+prev[len(prev)-l:], prev[len(prev)-l:]
		case keyLiteral:
			k, prev = r.str(), ""
		default:
			panic("bad key tag")
		}
		keys = append(keys, phone.Key(k))
	}
	return keys
}

// checked runs a reader of a stored contact, which comes from outside the
// process and may hold what the index did not write: the readers panic on
// a malformed one (see recordReader), and that becomes an error here.
func checked[T any](read func() T) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt stored contact: %v", p)
		}
	}()
	return read(), nil
}

// storedIndexed is what a stored contact is indexed under: its phone keys
// and folded name words.
func storedIndexed(v any) (keys []phone.Key, words []string, err error) {
	h, body, err := docHeader(v)
	if err != nil {
		return nil, nil, err
	}
	keys, err = checked(func() []phone.Key {
		r := recordReader{s: body}
		return r.docKeys()
	})
	if err != nil {
		return nil, nil, err
	}
	if h.words != "" {
		words = strings.Split(h.words, " ")
	}
	return keys, words, nil
}

// decodeStored decodes a stored contact from a script reply.
func decodeStored(v any) (events.Contact, error) {
	h, body, err := docHeader(v)
	if err != nil {
		return events.Contact{}, err
	}
	return checked(func() events.Contact {
		r := recordReader{s: body}
		keys := r.docKeys()
		var c events.Contact
		for _, p := range []*string{&c.ID, &c.Source, &c.Type, &c.Name, &c.Title, &c.Company} {
			*p = r.str()
		}
		switch r.num() {
		case linkLiteral:
			c.ContactURI = r.str()
		case linkAroundID:
			c.ContactURI = r.str() + c.ID + r.str()
		case linkTemplate:
			if h.link == "" || h.linkID {
				panic("link template not resolved")
			}
			c.ContactURI = h.link + c.ID + r.str()
		default:
			panic("bad link tag")
		}
		shared := r.num()
		c.CompanyURI = c.ContactURI[:shared] + r.str()
		c.CRMName, c.CRMLogo = r.str(), r.str()
		if n := r.num(); n > 0 {
			r.fits(n)
			c.Phones = make([]events.Phone, n)
			for i := range c.Phones {
				p := &c.Phones[i]
				p.Raw = r.str()
				if k := r.num(); k == 0 {
					p.Normalized = r.str()
				} else {
					p.Normalized = string(keys[k-1][2:])
				}
				p.Label = r.str()
			}
		}
		r.extras(&c)
		var t []byte
		switch r.num() {
		case timeFromHeader:
			nsec := int64(r.num())
			t = timeBinary(h.ms, nsec, []byte(r.s[r.i:r.i+2]))
			r.i += 2
		case timeLiteral:
			t = []byte(r.str())
		default:
			panic("bad time tag")
		}
		if err := c.UpdatedAt.UnmarshalBinary(t); err != nil {
			panic(err)
		}
		if b := r.str(); b != "" {
			if err := c.CreatedAt.UnmarshalBinary([]byte(b)); err != nil {
				panic(err)
			}
		}
		if r.i != len(r.s) {
			panic("bytes after the contact")
		}
		return c
	})
}
