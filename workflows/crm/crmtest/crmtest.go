package crmtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
)

// Op names a capability's method, the call a Subject arranges its CRM for.
type Op string

// The capability methods.
const (
	SearchPhone   Op = "SearchPhone"
	SearchName    Op = "SearchName"
	CreateContact Op = "CreateContact"
	ListChanges   Op = "ListChanges"
	LogCall       Op = "LogCall"
	CreateTicket  Op = "CreateTicket"
	LogMessage    Op = "LogMessage"
	// LogDisposition: Created and Repeated apply Data.Disposition to the
	// logged call Data.Disposition.Input.LogID names, which the CRM has.
	LogDisposition Op = "LogDisposition"
)

// Outcome is how the CRM answers the connector's next call.
type Outcome int

// Outcomes: the first four succeed; the others are Failures.
const (
	// Found: a search finds Data's contact; a listing has changes.
	Found Outcome = iota + 1
	// Missing: a search finds nothing; a listing has no changes.
	Missing
	// Created: the CRM makes the effect (a logged call, a contact).
	Created
	// Repeated: the CRM already has the effect of Data.Call (same key).
	Repeated

	// Unauthorized: HTTP 401 (bad credentials). Permanent.
	Unauthorized
	// Forbidden: HTTP 403 (missing scope). Permanent.
	Forbidden
	// NotFound: HTTP 404, standing for every other 4xx. Permanent.
	NotFound
	// RateLimited: HTTP 429 with Retry-After of RetryAfter. Transient,
	// and the delay is exposed (crm.RetryAfter).
	RateLimited
	// ServerError: HTTP 500. Transient.
	ServerError
	// Slow: no answer before the call's deadline (SlowDeadline). Transient.
	Slow
	// Unreachable: nothing listens (connection refused). Transient.
	Unreachable
	// Rejected: a database refuses the statement (a missing table, a
	// privilege, a constraint). Permanent.
	Rejected
)

var outcomeNames = map[Outcome]string{
	Found: "found", Missing: "missing", Created: "created", Repeated: "repeated",
	Unauthorized: "401", Forbidden: "403", NotFound: "404", RateLimited: "429 with Retry-After",
	ServerError: "500", Slow: "slow", Unreachable: "unreachable", Rejected: "rejected statement",
}

// String names the outcome in test names.
func (o Outcome) String() string {
	if s, ok := outcomeNames[o]; ok {
		return s
	}
	return "outcome " + strconv.Itoa(int(o))
}

// HTTPFailures are the failures an HTTP CRM fake produces.
var HTTPFailures = []Outcome{Unauthorized, Forbidden, NotFound, RateLimited, ServerError, Slow, Unreachable}

// RetryAfter is the delay a RateLimited answer asks for.
const RetryAfter = 7 * time.Second

// SlowDeadline is the deadline of a call the CRM answers Slow: the
// connector must give up with it, whatever its own timeout.
const SlowDeadline = 300 * time.Millisecond

// Data are the inputs of the suite's calls, chosen to match what the
// Subject's CRM answers.
type Data struct {
	// Call is given to LogCall, CreateTicket and LogMessage.
	Call crm.Call
	// Numbers are given to SearchPhone; PhoneMatch is the id of a contact
	// a Found phone search returns.
	Numbers    []string
	PhoneMatch string
	// Name is given to SearchName; NameMatch is the id of a contact a
	// Found name search returns.
	Name      string
	NameMatch string
	// NewContact is given to CreateContact.
	NewContact crm.NewContact
	// Cursor is given to ListChanges.
	Cursor string
	// Disposition is given to LogDisposition: dispositions for the
	// logged call its Input.LogID names.
	Disposition crm.Call
}

// Subject is one connector under test against a CRM of its own.
type Subject struct {
	// Connector is the implementation; the suite checks each crm
	// capability it implements.
	Connector any
	// Data are the suite's inputs.
	Data Data
	// Arrange makes the CRM answer the connector's next call of op as o.
	// It is called before each call, with successful outcomes for every
	// capability and with the failures listed in Failures.
	Arrange func(t *testing.T, op Op, o Outcome)
	// Failures lists the failures the CRM can produce (HTTPFailures for an
	// HTTP fake).
	Failures []Outcome
}

// Run runs the suite. newSubject builds a fresh connector and CRM; it is
// called once per check, from the check's own test.
func Run(t *testing.T, newSubject func(t *testing.T) Subject) {
	t.Helper()
	probe := newSubject(t)
	ran := 0
	for _, c := range capabilities {
		if !c.has(probe.Connector) {
			continue
		}
		ran++
		t.Run(string(c.op), func(t *testing.T) {
			for _, b := range c.behaviours {
				t.Run(b.name, func(t *testing.T) { b.check(t, newSubject(t)) })
			}
			for _, f := range probe.Failures {
				t.Run(f.String(), func(t *testing.T) {
					s := newSubject(t)
					s.Arrange(t, c.op, f)
					ctx, cancel := context.WithTimeout(context.Background(), callTimeout(f))
					defer cancel()
					AssertFailure(t, c.call(ctx, s), f)
				})
			}
		})
	}
	if ran == 0 {
		t.Fatalf("%T implements no crm capability", probe.Connector)
	}
}

// callTimeout bounds one call of the suite: SlowDeadline when the CRM
// does not answer, else long enough never to be what ends the call.
func callTimeout(o Outcome) time.Duration {
	if o == Slow {
		return SlowDeadline
	}
	return 30 * time.Second
}

// AssertFailure checks how a connector classified the failure o: permanent
// exactly for 401, 403, other 4xx and a refused statement, with the CRM's
// Retry-After exposed for a 429 and no delay otherwise.
func AssertFailure(t testing.TB, err error, o Outcome) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", o)
	}
	permanent := o == Unauthorized || o == Forbidden || o == NotFound || o == Rejected
	class := crm.ErrTransient
	if permanent {
		class = crm.ErrPermanent
	}
	if !errors.Is(err, class) || crm.IsPermanent(err) != permanent {
		t.Fatalf("%s: err %v, want %v", o, err, class)
	}
	var want time.Duration
	if o == RateLimited {
		want = RetryAfter
	}
	if got, ok := crm.RetryAfter(err); got != want || ok != (want > 0) {
		t.Errorf("%s: RetryAfter = %s, %v; want %s, %v (err %v)", o, got, ok, want, want > 0, err)
	}
}

// ServeFailure answers r as a CRM failing with o: the status with a JSON
// error body (and Retry-After for a 429), or, for Slow, nothing until the
// client gives up. It reports false for an outcome that is no HTTP answer
// (Unreachable, Rejected, the successes).
func ServeFailure(w http.ResponseWriter, r *http.Request, o Outcome) bool {
	status := map[Outcome]int{Unauthorized: 401, Forbidden: 403, NotFound: 404, RateLimited: 429, ServerError: 500}[o]
	switch {
	case o == Slow:
		// Read the request to its end: only then does the server notice
		// the client hanging up, and end r's context.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		return true
	case status == 0:
		return false
	}
	if o == RateLimited {
		w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfter/time.Second)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"status":"error","message":"` + http.StatusText(status) + `"}`))
	return true
}

// capability is one crm interface: how to tell a connector has it, how
// to call it with a Subject's Data, and what it must do.
type capability struct {
	op         Op
	has        func(any) bool
	call       func(ctx context.Context, s Subject) error
	behaviours []behaviour
}

type behaviour struct {
	name  string
	check func(t *testing.T, s Subject)
}

func implements[C any](x any) bool { _, ok := x.(C); return ok }

var capabilities = []capability{
	searchCapability(SearchPhone, implements[crm.PhoneSearcher], func(ctx context.Context, s Subject) ([]events.Contact, error) {
		return s.Connector.(crm.PhoneSearcher).SearchPhone(ctx, s.Data.Numbers)
	}, func(d Data) string { return d.PhoneMatch }),
	searchCapability(SearchName, implements[crm.NameSearcher], func(ctx context.Context, s Subject) ([]events.Contact, error) {
		return s.Connector.(crm.NameSearcher).SearchName(ctx, s.Data.Name, 5)
	}, func(d Data) string { return d.NameMatch }),
	{op: CreateContact, has: implements[crm.ContactCreator],
		call: func(ctx context.Context, s Subject) error {
			_, err := s.Connector.(crm.ContactCreator).CreateContact(ctx, s.Data.NewContact)
			return err
		},
		behaviours: []behaviour{
			{"creates a contact with an id", func(t *testing.T, s Subject) {
				s.Arrange(t, CreateContact, Created)
				c, err := s.Connector.(crm.ContactCreator).CreateContact(ctxFor(t), s.Data.NewContact)
				if err != nil {
					t.Fatal(err)
				}
				if c.ID == "" || c.Name == "" {
					t.Fatalf("created contact %+v has no id or no name", c)
				}
			}},
		}},
	{op: ListChanges, has: implements[crm.ChangeLister],
		call: func(ctx context.Context, s Subject) error {
			_, err := s.Connector.(crm.ChangeLister).ListChanges(ctx, s.Data.Cursor)
			return err
		},
		behaviours: []behaviour{
			{"lists changes and advances", func(t *testing.T, s Subject) {
				s.Arrange(t, ListChanges, Found)
				p, err := s.Connector.(crm.ChangeLister).ListChanges(ctxFor(t), s.Data.Cursor)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Upserts) == 0 {
					t.Fatalf("no upserts in %+v", p)
				}
				wantIDs(t, p.Upserts)
				if p.Next == "" || p.Next == s.Data.Cursor {
					t.Fatalf("cursor %q did not advance from %q", p.Next, s.Data.Cursor)
				}
			}},
			{"no changes is no error", func(t *testing.T, s Subject) {
				s.Arrange(t, ListChanges, Missing)
				p, err := s.Connector.(crm.ChangeLister).ListChanges(ctxFor(t), s.Data.Cursor)
				if err != nil || len(p.Upserts) != 0 || len(p.Deletes) != 0 || p.More {
					t.Fatalf("page %+v, %v; want an empty last page", p, err)
				}
			}},
		}},
	callCapability(LogCall, implements[crm.CallLogger], func(x any) func(context.Context, crm.Call) (crm.Result, error) {
		return x.(crm.CallLogger).LogCall
	}),
	callCapability(CreateTicket, implements[crm.TicketCreator], func(x any) func(context.Context, crm.Call) (crm.Result, error) {
		return x.(crm.TicketCreator).CreateTicket
	}),
	callCapability(LogMessage, implements[crm.MessageLogger], func(x any) func(context.Context, crm.Call) (crm.Result, error) {
		return x.(crm.MessageLogger).LogMessage
	}),
	dispositionCapability(),
}

// dispositionCapability updates the logged call: the same dispositions
// twice are one effect, on that call, and a disposition naming no logged
// call is refused for good before the CRM is asked.
func dispositionCapability() capability {
	run := func(ctx context.Context, s Subject, c crm.Call) (crm.Result, error) {
		return s.Connector.(crm.DispositionLogger).LogDisposition(ctx, c)
	}
	return capability{op: LogDisposition, has: implements[crm.DispositionLogger],
		call: func(ctx context.Context, s Subject) error {
			_, err := run(ctx, s, s.Data.Disposition)
			return err
		},
		behaviours: []behaviour{
			{"the same dispositions twice are one update of the logged call", func(t *testing.T, s Subject) {
				d := s.Data.Disposition
				if d.Input.LogID == "" || len(d.Input.Dispositions) == 0 {
					t.Fatalf("Data.Disposition %+v names no logged call or no disposition", d)
				}
				s.Arrange(t, LogDisposition, Created)
				first, err := run(ctxFor(t), s, d)
				if err != nil {
					t.Fatal(err)
				}
				if first.ID != d.Input.LogID {
					t.Fatalf("result %+v is not the logged call %s", first, d.Input.LogID)
				}
				s.Arrange(t, LogDisposition, Repeated)
				again, err := run(ctxFor(t), s, d)
				if err != nil || again != first {
					t.Fatalf("again: %+v, %v; want %+v", again, err, first)
				}
			}},
			{"no logged call is a permanent failure", func(t *testing.T, s Subject) {
				d := s.Data.Disposition
				d.Input.LogID, d.Input.LogKey = "", "k-log"
				_, err := run(ctxFor(t), s, d)
				if !errors.Is(err, crm.ErrNoLogID) || !crm.IsPermanent(err) {
					t.Fatalf("err %v, want a permanent crm.ErrNoLogID", err)
				}
			}},
		}}
}

// callCapability is a workflow action: it makes its effect once per
// Call key, however often it runs.
func callCapability(op Op, has func(any) bool, method func(any) func(context.Context, crm.Call) (crm.Result, error)) capability {
	return capability{op: op, has: has,
		call: func(ctx context.Context, s Subject) error {
			_, err := method(s.Connector)(ctx, s.Data.Call)
			return err
		},
		behaviours: []behaviour{
			{"the same call twice is one effect", func(t *testing.T, s Subject) {
				run := method(s.Connector)
				s.Arrange(t, op, Created)
				first, err := run(ctxFor(t), s.Data.Call)
				if err != nil {
					t.Fatal(err)
				}
				if first.ID == "" {
					t.Fatalf("result %+v has no id", first)
				}
				s.Arrange(t, op, Repeated)
				again, err := run(ctxFor(t), s.Data.Call)
				if err != nil || again != first {
					t.Fatalf("again: %+v, %v; want %+v", again, err, first)
				}
			}},
		}}
}

// searchCapability is a live search: it finds the CRM's contact, and a
// miss is an empty answer, not an error.
func searchCapability(op Op, has func(any) bool, search func(context.Context, Subject) ([]events.Contact, error), match func(Data) string) capability {
	return capability{op: op, has: has,
		call: func(ctx context.Context, s Subject) error { _, err := search(ctx, s); return err },
		behaviours: []behaviour{
			{"finds the contact", func(t *testing.T, s Subject) {
				s.Arrange(t, op, Found)
				cs, err := search(ctxFor(t), s)
				wantMatch(t, cs, err, match(s.Data))
			}},
			{"a miss is no error", func(t *testing.T, s Subject) {
				s.Arrange(t, op, Missing)
				cs, err := search(ctxFor(t), s)
				wantNone(t, cs, err)
			}},
		}}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout(Found))
	t.Cleanup(cancel)
	return ctx
}

func wantMatch(t *testing.T, cs []events.Contact, err error, id string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, cs)
	for _, c := range cs {
		if c.ID == id {
			return
		}
	}
	t.Fatalf("contacts %+v do not include %q", cs, id)
}

func wantNone(t *testing.T, cs []events.Contact, err error) {
	t.Helper()
	if err != nil || len(cs) != 0 {
		t.Fatalf("got %d contacts, %v; want none and no error", len(cs), err)
	}
}

// wantIDs checks every contact has an id and a name: what a lookup shows.
func wantIDs(t *testing.T, cs []events.Contact) {
	t.Helper()
	for _, c := range cs {
		if c.ID == "" || c.Name == "" {
			t.Errorf("contact without id or name: %+v", c)
		}
	}
}
