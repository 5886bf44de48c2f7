package phone

import "errors"

// ErrNotANumber means an input can never be a phone number: no digits, too
// many digits, or characters a phone number does not contain. It is returned
// wrapped with what failed; test it with errors.Is. Normalize also returns it
// for a number that has digits but no valid E.164 reading.
var ErrNotANumber = errors.New("not a phone number")

// ErrInvalidRegion means Options.Region is not a region phonenumbers knows.
// It is a configuration error, reported before the input is looked at.
var ErrInvalidRegion = errors.New("invalid default region")

// ErrInvalidTailDigits means Options.TailDigits is outside the accepted range.
var ErrInvalidTailDigits = errors.New("invalid tail digits")
