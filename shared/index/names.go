package index

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
)

// foldSpecial maps lower-case letters that Unicode does not decompose into a
// base letter plus accents, so that "Søren", "Łukasz" or "Straße" are found
// the way people type them on a keyboard without those letters.
var foldSpecial = map[rune]string{
	'ß': "ss",
	'æ': "ae",
	'œ': "oe",
	'ø': "o",
	'ł': "l",
	'đ': "d",
	'ð': "d",
	'þ': "th",
	'ı': "i",
}

// FoldName splits s into the words the name index stores and a name query
// is made of: lower-cased, accents stripped ("Müller" → "muller", "Zoë" →
// "zoe"), split on every rune that is not a letter or a digit. Each word is
// returned once, in order of first appearance. Both implementations and both
// sides (indexing and searching) use it, so they always agree.
func FoldName(s string) []string {
	var (
		words []string
		cur   strings.Builder
	)
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		w := norm.NFC.String(cur.String())
		cur.Reset()
		for _, seen := range words {
			if seen == w {
				return
			}
		}
		words = append(words, w)
	}
	// NFD splits "ü" into "u" + a combining diaeresis, which is then dropped.
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// An accent: dropped, without ending the word.
		case unicode.Is(unicode.Mc, r):
			// A spacing mark is part of the letter in many scripts (Devanagari…).
			cur.WriteRune(r)
		default:
			r = unicode.ToLower(r)
			if rep, ok := foldSpecial[r]; ok {
				cur.WriteString(rep)
			} else if unicode.IsLetter(r) || unicode.IsDigit(r) {
				cur.WriteRune(r)
			} else {
				flush()
			}
		}
	}
	flush()
	return words
}

// ref is how both implementations name a contact inside a tenant. Sources
// are validated to [a-z0-9_-], so the first ':' separates source and id.
func ref(source, id string) string { return source + ":" + id }

// checkCall is the common precondition: a live context and a valid tenant.
func checkCall(ctx context.Context, tenant string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return validTenant(tenant)
}

// validTenant rejects tenants that would not be safe as a Redis hash tag or
// a subject token; both implementations check it so they fail alike.
func validTenant(tenant string) error {
	if err := events.ValidID(tenant); err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	return nil
}

// validContact checks what identifies a contact.
func validContact(tenant, source, id string) error {
	if err := validTenant(tenant); err != nil {
		return err
	}
	if err := events.ValidID(source); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if id == "" {
		return fmt.Errorf("%w: empty contact id", events.ErrInvalid)
	}
	return nil
}

// dedupeKeys drops repeated keys, keeping the first occurrence's order.
func dedupeKeys(keys []phone.Key) []phone.Key {
	out := make([]phone.Key, 0, len(keys))
	for _, k := range keys {
		if k != "" && !containsKey(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func containsKey(keys []phone.Key, k phone.Key) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// lookupOrder ranks lookup hits as lookupScript does in Lua: the better
// kind first, then newerFirst.
func lookupOrder(ak, bk phone.Kind, ams, bms int64, aref, bref string) int {
	if ak != bk {
		return int(ak) - int(bk)
	}
	return newerFirst(ams, bms, aref, bref)
}

// newerFirst orders by UpdatedAt (ms), newest first, then by ref
// descending: the order of Redis's ZREVRANGE, so every implementation
// breaks ties alike.
func newerFirst(ams, bms int64, aref, bref string) int {
	if c := cmp.Compare(bms, ams); c != 0 {
		return c
	}
	return strings.Compare(bref, aref)
}
