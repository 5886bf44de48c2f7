package risk

import (
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Number types of Facts.Type.
const (
	TypePremiumRate = "premium_rate"
	TypeSharedCost  = "shared_cost"
	TypeVoIP        = "voip"
	TypeTollFree    = "toll_free"
	TypeMobile      = "mobile"
	TypeFixedLine   = "fixed_line"
	// TypeFixedOrMobile is a number of a region (US, CA, …) where the two
	// cannot be told apart.
	TypeFixedOrMobile = "fixed_line_or_mobile"
	TypeOther         = "other"
	TypeUnknown       = "unknown"
)

var typeNames = map[phonenumbers.PhoneNumberType]string{
	phonenumbers.PREMIUM_RATE:         TypePremiumRate,
	phonenumbers.SHARED_COST:          TypeSharedCost,
	phonenumbers.VOIP:                 TypeVoIP,
	phonenumbers.TOLL_FREE:            TypeTollFree,
	phonenumbers.MOBILE:               TypeMobile,
	phonenumbers.FIXED_LINE:           TypeFixedLine,
	phonenumbers.FIXED_LINE_OR_MOBILE: TypeFixedOrMobile,
	phonenumbers.PAGER:                TypeOther,
	phonenumbers.PERSONAL_NUMBER:      TypeOther,
	phonenumbers.UAN:                  TypeOther,
	phonenumbers.VOICEMAIL:            TypeOther,
}

// Facts are what a number says about itself, whoever calls.
type Facts struct {
	// Known is set once the facts were read (a number too short to be one
	// has none).
	Known bool `json:"-"`
	// Type is one of the Type constants.
	Type string `json:"type"`
	// Valid: a valid number of its region.
	Valid bool `json:"valid"`
	// Possible: a possible length for its region.
	Possible bool `json:"possible"`
	// Region is the region the number belongs to, when valid.
	Region string `json:"region,omitempty"`
}

// FactsOf reads the facts of a number in E.164 form, or of the digits of an
// invalid one read in region.
func FactsOf(number, region string) Facts {
	pn, err := phonenumbers.Parse(number, region)
	if err != nil {
		return Facts{Known: true, Type: TypeUnknown}
	}
	f := Facts{Known: true, Valid: phonenumbers.IsValidNumber(pn), Possible: phonenumbers.IsPossibleNumber(pn), Type: TypeUnknown}
	if f.Valid {
		f.Region = phonenumbers.GetRegionCodeForNumber(pn)
		if name, ok := typeNames[phonenumbers.GetNumberType(pn)]; ok {
			f.Type = name
		}
	}
	return f
}

// factsMemo remembers facts per number, up to max entries: past that it
// starts over, which bounds its memory whatever numbers call.
type factsMemo struct {
	mu  sync.RWMutex
	m   map[string]Facts
	max int
}

func newFactsMemo(max int) *factsMemo { return &factsMemo{m: make(map[string]Facts), max: max} }

// get returns the facts of key, reading them with read on a miss.
func (fm *factsMemo) get(key string, read func() Facts) Facts {
	fm.mu.RLock()
	f, ok := fm.m[key]
	fm.mu.RUnlock()
	if ok {
		return f
	}
	f = read()
	fm.mu.Lock()
	if len(fm.m) >= fm.max {
		clear(fm.m)
	}
	fm.m[key] = f
	fm.mu.Unlock()
	return f
}
