// Package phone turns phone numbers into index keys, so that a number as a
// CRM stores it and the same number as a phone system sends it meet in the
// contact index.
//
// Numbers arrive in many spellings: "41215522000" (peoplefone drops the +),
// "0041 21 552 20 00", "+41 (0)21 552 20 00", "021/552.20.00" (national, read
// in the tenant's default region), "tel:+41215522000;ext=12". Each is read
// with github.com/nyaruka/phonenumbers; a reading counts only when
// phonenumbers.IsValidNumber accepts it, since Parse accepts invalid numbers.
//
// Keys (see Key) come in three kinds:
//
//	e:+41215522000  a valid number in E.164 form
//	d:0215522000    the digits of a number that never became valid
//	t:215522000     the last Options.TailDigits digits, for tail matches
//
// IndexKeys gives the keys a stored number is indexed under; Candidates
// gives the keys a lookup checks, exact keys before tail keys. The two are
// built so that every spelling of one number shares a key:
//
//	stored "021 552 20 00" (region CH)  e:+41215522000 t:215522000
//	called "41215522000"                e:+41215522000 d:41215522000 t:215522000
//
// Input is reduced to its digits before phonenumbers sees it: an optional
// "tel:" scheme and its parameters, one leading +, visual separators and an
// extension (x204, ext. 204, #204, ;ext=204) are accepted and the extension
// dropped. Unicode decimal digits (Arabic-Indic, Devanagari, fullwidth, …)
// are read as the ASCII digits of the same value, as CRMs in those locales
// store them. Letters anywhere else ("+41 21 CALL NOW", vanity numbers),
// fewer than two or more than twenty digits are ErrNotANumber.
//
// A number without + can mean several numbers. Its readings are tried in
// this order: digits that start with the tenant's own country code are read
// as international first ("41215522000" as sent by peoplefone), others as
// national first ("2125550100" in the US); "00…" is also read as
// international where the region dials abroad otherwise (US: 011).
// Candidates keeps every valid reading, IndexKeys the first.
//
// Candidates runs once per lookup on the ringing path: input is checked and
// reduced to digits without regular expressions, and each reading is parsed
// once. Digits are parsed and validated as phonenumbers does it, step by
// step, but with each region's metadata compiled once (parseDigits), which
// spares phonenumbers' per-call overhead; phonenumbers itself parses only
// what that leaves to it: "+0…", which it retries nationally, and what it
// rejects. Tests compare the two on numbers generated from the metadata of
// every region.
package phone
