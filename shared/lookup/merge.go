package lookup

import (
	"slices"
	"strings"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
)

// samePerson reports whether two contacts a lookup found are one person
// arriving from two sources (an admin import and a CRM, two CRMs): their
// sources differ, both were exact matches, they hold a number in the same
// normalised form (the same E.164 number, or the same digits for a number
// that never becomes E.164), and their names fold to the same words, case,
// accents, punctuation and word order aside ("Müller, Hans" is "hans
// muller"; aName and bName are their nameKey). Contacts without a name are
// never the same person: a company's switchboard number is shared by
// design. Two contacts of one source are two records of that source, never
// merged.
func samePerson(a, b *index.Match, aName, bName string) bool {
	return a.Contact.Source != b.Contact.Source && a.Kind == phone.Exact && b.Kind == phone.Exact &&
		aName != "" && aName == bName && shareNumber(&a.Contact, &b.Contact)
}

// merge folds each match that is the same person (samePerson) as an
// earlier one into that one, so that the contact the ranking put first
// answers for the person, and returns the matches left, in order, with
// per kept match the contacts folded into it (at most one per source);
// merged is nil when nothing was folded. ms is reused.
func merge(ms []index.Match) (kept []index.Match, merged [][]events.Contact) {
	if !severalSources(ms) {
		return ms, nil
	}
	names := make([]string, len(ms))
	for i := range ms {
		if ms[i].Kind == phone.Exact {
			names[i] = nameKey(ms[i].Contact.Name)
		}
	}
	// kept shares ms's array: ms[j] may be overwritten by then, kept[keptAt[j]] not.
	// keptAt[i] is where ms[i] went in kept, -1 when it was folded.
	keptAt := make([]int, len(ms))
	kept = ms[:0]
	for i := range ms {
		m := ms[i]
		into := -1
		for j := 0; j < i && names[i] != ""; j++ {
			if k := keptAt[j]; k >= 0 && samePerson(&kept[k], &m, names[j], names[i]) && !hasSource(merged, k, m.Contact.Source) {
				into = k
				break
			}
		}
		if into < 0 {
			keptAt[i] = len(kept)
			kept = append(kept, m)
			continue
		}
		keptAt[i] = -1
		if merged == nil {
			merged = make([][]events.Contact, len(ms))
		}
		merged[into] = append(merged[into], m.Contact)
	}
	if merged != nil {
		merged = merged[:len(kept)]
	}
	return kept, merged
}

// severalSources reports whether ms holds contacts of more than one source:
// only then can two of them be one person.
func severalSources(ms []index.Match) bool {
	for i := 1; i < len(ms); i++ {
		if ms[i].Contact.Source != ms[0].Contact.Source {
			return true
		}
	}
	return false
}

// hasSource reports whether the contacts folded into kept match i hold one
// of source.
func hasSource(merged [][]events.Contact, i int, source string) bool {
	if merged == nil {
		return false
	}
	return slices.ContainsFunc(merged[i], func(c events.Contact) bool { return c.Source == source })
}

// nameKey is a name's folded words, sorted: equal for names that differ
// only in case, accents, punctuation or word order.
func nameKey(name string) string {
	words := index.FoldName(name)
	slices.Sort(words)
	return strings.Join(words, " ")
}

// shareNumber reports whether a and b hold a number in the same normalised
// form: the same E.164 number, or, for numbers that never became E.164, the
// same digits.
func shareNumber(a, b *events.Contact) bool {
	for _, p := range a.Phones {
		for _, q := range b.Phones {
			switch {
			case p.Normalized != "" || q.Normalized != "":
				if p.Normalized == q.Normalized {
					return true
				}
			case digits(p.Raw) != "" && digits(p.Raw) == digits(q.Raw):
				return true
			}
		}
	}
	return false
}

// digits keeps the digits of s.
func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
