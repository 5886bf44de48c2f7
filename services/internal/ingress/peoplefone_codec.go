package ingress

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/risk"
)

// The peoplefone lookup is the ringing path: its request and answer are
// read and written here without reflection and, with the buffers pooled,
// without allocations of their own. The output is byte for byte what
// encoding/json's Encoder writes for the same values (HTML-safe escaping,
// trailing newline), and any request this reader is not certain about goes
// through encoding/json, so both routes answer alike.

// codecBufs are the pooled read and write buffers of peoplefone lookups.
var codecBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// readPeoplefoneNumber reads the POST <root>/Lookup body,
// {"inputs":{"phoneNumber":"…"}}, and returns the number; a missing, null
// or blank one is a bad request, as is a malformed body.
func readPeoplefoneNumber(w http.ResponseWriter, r *http.Request) (string, error) {
	bp := codecBufs.Get().(*[]byte)
	defer codecBufs.Put(bp)
	buf := bytes.NewBuffer((*bp)[:0])
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBody))
	*bp = buf.Bytes()[:0]
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return "", err
	}
	number, ok := "", false
	if err == nil {
		number, ok = scanPeoplefoneRequest(buf.Bytes())
	}
	if !ok {
		// Anything else (escapes, other fields, other case of the keys, a
		// read error) is encoding/json's to judge.
		var rest io.Reader = bytes.NewReader(buf.Bytes())
		if err != nil {
			rest = io.MultiReader(rest, errReader{err})
		}
		r.Body = io.NopCloser(rest)
		var req peoplefoneRequest
		if err := decodeJSON(w, r, &req); err != nil {
			return "", err
		}
		if req.Inputs.PhoneNumber != nil {
			number = *req.Inputs.PhoneNumber
		}
	}
	if strings.TrimSpace(number) == "" {
		return "", errors.Join(errBadRequest, errors.New("inputs.phoneNumber is required"))
	}
	return number, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// scanPeoplefoneRequest reads the usual body, exactly
// {"inputs":{"phoneNumber":"<printable ASCII, no escapes>"}} with any JSON
// whitespace; false for anything else.
func scanPeoplefoneRequest(b []byte) (string, bool) {
	s := scanner{b: b}
	if !s.next('{') || !s.key("inputs") || !s.next('{') || !s.key("phoneNumber") {
		return "", false
	}
	number, ok := s.plainString()
	if !ok || !s.next('}') || !s.next('}') {
		return "", false
	}
	s.space()
	return number, s.i == len(b)
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c after optional whitespace.
func (s *scanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// key consumes "k" and the colon after it.
func (s *scanner) key(k string) bool {
	s.space()
	end := s.i + len(k) + 2
	if end > len(s.b) || s.b[s.i] != '"' || string(s.b[s.i+1:end-1]) != k || s.b[end-1] != '"' {
		return false
	}
	s.i = end
	return s.next(':')
}

// plainString consumes a string of printable ASCII without escapes.
func (s *scanner) plainString() (string, bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := string(s.b[s.i+1 : j])
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return "", false
		}
	}
	return "", false
}

// writePeoplefoneAnswer writes the lookup answer of the current CONNECTOR
// API: 200 and an array of entries (see peoplefoneEntry).
func writePeoplefoneAnswer(w http.ResponseWriter, res lookup.Result, actions []string) {
	bp := codecBufs.Get().(*[]byte)
	defer codecBufs.Put(bp)
	b := appendPeoplefoneEntries((*bp)[:0], res, actions)
	*bp = b[:0]
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// appendPeoplefoneEntries appends the JSON array of peoplefoneEntry values
// of res's matches and a newline, as json.Encoder would; each entry's
// customData carries the caller's risk, if any.
func appendPeoplefoneEntries(b []byte, res lookup.Result, actions []string) []byte {
	b = append(b, '[')
	for i := range res.Matches {
		c := &res.Matches[i].Contact
		if i > 0 {
			b = append(b, ',')
		}
		b = appendField(b, `{"name":`, c.Name)
		b = appendField(b, `,"company":`, c.Company)
		b = appendField(b, `,"contactUri":`, c.ContactURI)
		b = appendField(b, `,"companyUri":`, c.CompanyURI)
		b = appendField(b, `,"id":`, c.ID)
		b = appendField(b, `,"crmName":`, c.CRMName)
		b = appendField(b, `,"crmLogo":`, c.CRMLogo)
		b = append(b, `,"customData":`...)
		b = appendCustomData(b, c, res.MergedInto(i), res.Risk)
		b = append(b, `,"crmActions":`...)
		b = appendJSONStrings(b, actions)
		b = append(b, '}')
	}
	return append(b, ']', '\n')
}

// appendField appends name (the field's key, colon and whatever
// punctuation precedes it) and the string v.
func appendField(b []byte, name, v string) []byte {
	return events.AppendJSONString(append(b, name...), v)
}

// appendCustomData appends withRisk(customData(c, others), rk) as
// events.CustomData marshals it, without building it when others is empty
// (always, unless one person came from several sources).
func appendCustomData(b []byte, c *events.Contact, others []events.Contact, rk risk.Assessment) []byte {
	switch {
	case len(others) > 0:
		return appendKVs(b, customData(*c, others), rk)
	case len(c.CustomData) > 0:
		return appendKVs(b, c.CustomData, rk)
	case len(c.Emails) > 0:
		b = append(b, `{"email":`...)
		b = events.AppendJSONString(b, c.Emails[0])
		return appendRiskData(b, rk, true)
	}
	return appendRiskData(append(b, '{'), rk, false)
}

// appendRiskData closes a customData object, adding "Risk" and
// "RiskReasons" when rk is a signal (codes need no escaping); after is set
// when the object has members already.
func appendRiskData(b []byte, rk risk.Assessment, after bool) []byte {
	if !rk.IsZero() {
		if after {
			b = append(b, ',')
		}
		b = strconv.AppendInt(append(b, `"Risk":"`...), int64(rk.Score), 10)
		b = append(rk.Reasons.AppendCodes(append(b, `","RiskReasons":"`...)), '"')
	}
	return append(b, '}')
}

// appendKVs appends kvs as one JSON object, in order, with the risk data
// of rk.
func appendKVs(b []byte, kvs events.CustomData, rk risk.Assessment) []byte {
	b = append(b, '{')
	for i, kv := range kvs {
		if i > 0 {
			b = append(b, ',')
		}
		b = events.AppendJSONString(b, kv.Key)
		b = append(b, ':')
		b = events.AppendJSONString(b, kv.Value)
	}
	return appendRiskData(b, rk, len(kvs) > 0)
}

// appendJSONStrings appends a JSON array of strings; nil is null.
func appendJSONStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = events.AppendJSONString(b, s)
	}
	return append(b, ']')
}
