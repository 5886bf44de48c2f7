package phone

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/nyaruka/phonenumbers"
)

// Tail key lengths.
const (
	// DefaultTailDigits is the tail length used when Options.TailDigits is 0:
	// nine digits is the national significant number of most European fixed
	// lines, so a tail covers the number without its country code or trunk 0.
	DefaultTailDigits = 9
	// MinTailDigits is the shortest tail accepted: shorter tails match
	// unrelated numbers even in a small index.
	MinTailDigits = 4
	// MaxTailDigits is the longest tail accepted: E.164 numbers have at most
	// 15 digits, so a longer tail could never be shorter than a whole number.
	MaxTailDigits = 15
)

// Options say how to read numbers for one tenant.
type Options struct {
	// Region is the tenant's default region, an ISO 3166-1 alpha-2 code in
	// upper case as phonenumbers spells it ("CH"): numbers written without a
	// country code are read as numbers of this region.
	Region string
	// TailDigits is how many trailing digits a tail key keeps; 0 means
	// DefaultTailDigits. Numbers of TailDigits digits or fewer get no tail
	// key: they match exactly only.
	TailDigits int
}

// Validate reports every problem of o at once; it wraps ErrInvalidRegion and
// ErrInvalidTailDigits. Call it where tenant configuration is loaded, so the
// ringing path never meets a bad Options.
func (o Options) Validate() error {
	var errs []error
	if phonenumbers.GetCountryCodeForRegion(o.Region) == 0 {
		errs = append(errs, fmt.Errorf("phone options: region %q: %w", o.Region, ErrInvalidRegion))
	}
	if o.TailDigits != 0 && (o.TailDigits < MinTailDigits || o.TailDigits > MaxTailDigits) {
		errs = append(errs, fmt.Errorf("phone options: tail digits %d, want 0 or %d..%d: %w",
			o.TailDigits, MinTailDigits, MaxTailDigits, ErrInvalidTailDigits))
	}
	return errors.Join(errs...)
}

// settings are Options checked and resolved for one call.
type settings struct {
	region string
	// cc is the region's country calling code as digits ("41").
	cc   string
	tail int
	// fullParse reads every number with phonenumbers' own Parse and
	// IsValidNumber, never parseDigits; tests compare the two.
	fullParse bool
}

// resolve checks o with map lookups only, cheap enough for every call: the
// compiled region's, or phonenumbers' (a few of them) for a region that
// has none.
func (o Options) resolve() (settings, error) {
	var cc int
	if r := facts().region(o.Region); r != nil {
		cc = int(r.cc)
	} else {
		cc = phonenumbers.GetCountryCodeForRegion(o.Region)
	}
	tail := o.TailDigits
	if tail == 0 {
		tail = DefaultTailDigits
	}
	if cc == 0 || tail < MinTailDigits || tail > MaxTailDigits {
		return settings{}, o.Validate()
	}
	return settings{region: o.Region, cc: strconv.Itoa(cc), tail: tail}, nil
}
