// Package risk scores callers: a spam and fraud signal shown beside the CRM
// match. It combines two kinds of evidence about a number:
//
//   - behaviour across every tenant over the last hour (Stats): how many
//     tenants it called, how many calls, how many were answered, short
//     (under 5 s) or outside the called tenant's business hours. A Store
//     keeps these as counts only, per number and time bucket: no tenant can
//     learn another's contacts or even which tenants were called.
//   - static facts of the number itself (Facts, from nyaruka/phonenumbers):
//     its type (premium rate, shared cost, VoIP, …), whether it is valid and
//     possible.
//
// Score turns both into a score from 0 to 100 and the reasons behind it,
// with the tenant's Thresholds. Every rule, its reason code and its default
// is listed in Rules (and the README's "Caller risk" section).
//
// The lookup path never waits for the Store: a Cache in each process holds
// the Stats of the busiest numbers, refreshed in the background, and
// memoises the static facts; Cache.Assess costs two map reads.
package risk
