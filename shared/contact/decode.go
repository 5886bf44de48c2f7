package contact

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
)

// Record is one line of an import: a contact, or why it was rejected.
type Record struct {
	Line    int
	Contact events.Contact
	Err     error
}

// Format of an import.
type Format int

// Import formats.
const (
	NDJSON Format = iota
	CSV
)

// FormatOf picks the format from a content type or file name.
func FormatOf(contentTypeOrName string) Format {
	s := strings.ToLower(contentTypeOrName)
	if strings.Contains(s, "csv") {
		return CSV
	}
	return NDJSON
}

// CSVHeader is the column set of CSV imports; only id and name are required,
// columns may come in any order and unknown columns are an error. createdAt
// is an RFC 3339 time (when the contact was created, for the
// earliestCreated ranking), empty when unknown.
var CSVHeader = []string{"id", "name", "company", "phones", "emails", "contactUri", "companyUri", "crmName", "type", "createdAt"}

// Read calls fn for every record of r, in order. A bad line is reported
// through Record.Err and reading goes on; the returned error is for input
// that cannot be read at all (I/O, a CSV header that is wrong).
func Read(r io.Reader, f Format, defaultSource string, fn func(Record) error) error {
	if f == CSV {
		return readCSV(r, defaultSource, fn)
	}
	return readNDJSON(r, defaultSource, fn)
}

// maxLine bounds one NDJSON line.
const maxLine = 1 << 20

func readNDJSON(r io.Reader, defaultSource string, fn func(Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		rec := Record{Line: line}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec.Contact); err != nil {
			rec.Err = fmt.Errorf("%w: malformed JSON: %v", ErrInvalid, err)
		} else {
			rec.Err = Validate(&rec.Contact, defaultSource)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("read ndjson after line %d: a line is longer than %d bytes", line, maxLine)
		}
		return fmt.Errorf("read ndjson after line %d: %w", line, err)
	}
	return nil
}

func readCSV(r io.Reader, defaultSource string, fn func(Record) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("read csv header: %w", err)
	}
	cols, err := csvColumns(header)
	if err != nil {
		return err
	}
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var rec Record
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			rec.Line = pe.StartLine
			rec.Err = fmt.Errorf("%w: %v", ErrInvalid, pe.Err)
		case err != nil:
			return fmt.Errorf("read csv: %w", err)
		}
		if err == nil {
			rec.Line, _ = cr.FieldPos(0)
		}
		switch {
		case rec.Err != nil:
		case len(row) != len(header):
			rec.Err = fmt.Errorf("%w: %d fields, header has %d", ErrInvalid, len(row), len(header))
		default:
			rec.Contact, rec.Err = fromRow(cols, row)
			if rec.Err == nil {
				rec.Err = Validate(&rec.Contact, defaultSource)
			}
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func csvColumns(header []string) (map[string]int, error) {
	known := map[string]bool{}
	for _, h := range CSVHeader {
		known[strings.ToLower(h)] = true
	}
	cols := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !known[h] {
			return nil, fmt.Errorf("csv header: unknown column %q (known: %s)", h, strings.Join(CSVHeader, ","))
		}
		cols[h] = i
	}
	if _, ok := cols["id"]; !ok {
		return nil, errors.New("csv header: column id is required")
	}
	return cols, nil
}

func fromRow(cols map[string]int, row []string) (events.Contact, error) {
	get := func(name string) string {
		if i, ok := cols[strings.ToLower(name)]; ok {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	c := events.Contact{
		ID: get("id"), Name: get("name"), Company: get("company"),
		ContactURI: get("contactUri"), CompanyURI: get("companyUri"),
		CRMName: get("crmName"), Type: get("type"),
	}
	for _, p := range splitList(get("phones")) {
		c.Phones = append(c.Phones, events.Phone{Raw: p})
	}
	c.Emails = splitList(get("emails"))
	if v := get("createdAt"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return c, fmt.Errorf("%w: createdAt %q is not an RFC 3339 time", ErrInvalid, v)
		}
		c.CreatedAt = t.UTC()
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ";") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
