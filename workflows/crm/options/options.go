// Package options reads a CRM connector's options (the free-form map under a
// connector in the tenant YAML, decoded) into the fields of its Config.
//
// Values are read the way people write YAML by hand or through expanded
// environment variables: an id may come as a number or as text, a duration
// as "10s" or as a number of seconds, a boolean as true or "true". Every
// problem is collected, unknown keys included, so that one error lists all
// that is wrong with a tenant's connector instead of the first thing only.
//
// This differs from connectors/options.Decode (a strict JSON round trip onto
// struct tags, first error only), which the HubSpot, Pipedrive and upstream
// options cannot use without refusing configurations they accept today.
package options

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reader reads one connector's options. Each method reads one key into dst,
// leaving dst as it is when the key is absent or null, so that the Config's
// defaults apply afterwards; Err reports what went wrong.
type Reader struct {
	m    map[string]any
	used map[string]bool
	errs []error
}

// New returns a Reader of m. The "type" key selects the connector and is
// not an option of it, so it never counts as unknown.
func New(m map[string]any) *Reader {
	return &Reader{m: m, used: map[string]bool{"type": true}}
}

func (r *Reader) get(key string) (any, bool) {
	r.used[key] = true
	v, ok := r.m[key]
	return v, ok && v != nil
}

func (r *Reader) bad(key string, v any, want string) {
	r.errs = append(r.errs, fmt.Errorf("option %s: %v (%T) is not %s", key, v, v, want))
}

// String reads text. A number is accepted as its decimal text: YAML reads an
// unquoted id (a pipeline, a stage) as a number.
func (r *Reader) String(key string, dst *string) {
	v, ok := r.get(key)
	if !ok {
		return
	}
	switch s := v.(type) {
	case string:
		*dst = s
	case int, int64, uint64, float64:
		*dst = fmt.Sprint(s)
	default:
		r.bad(key, v, "a string")
	}
}

// Int64 reads a whole number, given as a number or as decimal text (a
// quoted or environment-expanded id). A float with a fraction, or beyond
// 2^53 where float64 stops being exact, is refused rather than rounded.
func (r *Reader) Int64(key string, dst *int64) {
	v, ok := r.get(key)
	if !ok {
		return
	}
	switch n := v.(type) {
	case int:
		*dst = int64(n)
	case int64:
		*dst = n
	case uint64:
		if n > math.MaxInt64 {
			r.bad(key, v, "an integer in range")
			return
		}
		*dst = int64(n)
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			r.bad(key, v, "an integer")
			return
		}
		*dst = int64(n)
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if err != nil {
			r.bad(key, v, "an integer")
			return
		}
		*dst = i
	default:
		r.bad(key, v, "an integer")
	}
}

// Int is Int64 for an int field.
func (r *Reader) Int(key string, dst *int) {
	n := int64(*dst)
	r.Int64(key, &n)
	if int64(int(n)) != n {
		// Only possible where int is 32 bits: refuse rather than wrap.
		r.bad(key, n, "an integer in range")
		return
	}
	*dst = int(n)
}

// Duration reads a Go duration ("10s", "1h30m") or a number of seconds.
func (r *Reader) Duration(key string, dst *time.Duration) {
	v, ok := r.get(key)
	if !ok {
		return
	}
	switch d := v.(type) {
	case string:
		p, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			r.bad(key, v, `a duration like "10s"`)
			return
		}
		*dst = p
	case int:
		*dst = time.Duration(d) * time.Second
	case int64:
		*dst = time.Duration(d) * time.Second
	case float64:
		*dst = time.Duration(d * float64(time.Second))
	default:
		r.bad(key, v, `a duration like "10s"`)
	}
}

// Bool reads a YAML boolean, or "true"/"false" text (an expanded
// environment variable).
func (r *Reader) Bool(key string, dst *bool) {
	v, ok := r.get(key)
	if !ok {
		return
	}
	switch b := v.(type) {
	case bool:
		*dst = b
	case string:
		p, err := strconv.ParseBool(strings.TrimSpace(b))
		if err != nil {
			r.bad(key, v, "a boolean")
			return
		}
		*dst = p
	default:
		r.bad(key, v, "a boolean")
	}
}

// Err reports every value that could not be read and then every key no
// method asked for, sorted: a misspelt option must not silently fall back
// to its default. Call it after reading all keys; nil means all was read.
func (r *Reader) Err() error {
	var unknown []string
	for k := range r.m {
		if !r.used[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	errs := slices.Clone(r.errs)
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("option %s: unknown option", k))
	}
	return errors.Join(errs...)
}
