package appconnect_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/dispatch"
)

// fakeDispatcher is an in-memory Dispatcher that behaves like
// workflows/dispatch with its worker: the key is derived the same way
// (tenant, workflow, CallID, else the identifying inputs), a key submitted
// again is never run again and keeps its outcome, force gives a fresh key,
// Wait is bounded, Status of an unknown key wraps ErrNotFound, and when
// "unavailable" nothing is stored and errors wrap ErrUnavailable.
// dispatchtest.Run checks it, as it checks the real one.
type fakeDispatcher struct {
	// exec is the worker: what a workflow does in the CRM.
	exec  func(tenant, workflow string, in events.CallInput) (crm.Result, error)
	delay atomic.Int64 // nanoseconds before a run starts
	down  atomic.Bool

	mu   sync.Mutex
	runs map[string]*fakeRun
	ran  map[string]int // executions per key
	subs []submission
}

type fakeRun struct {
	res  events.WorkflowResult
	in   events.CallInput
	done chan struct{}
}

type submission struct {
	Tenant, Workflow string
	In               events.CallInput
	Key              string
}

var _ appconnect.Dispatcher = (*fakeDispatcher)(nil)

func newFakeDispatcher() *fakeDispatcher {
	d := &fakeDispatcher{runs: map[string]*fakeRun{}, ran: map[string]int{}}
	var n atomic.Int64
	d.exec = func(_, workflow string, _ events.CallInput) (crm.Result, error) {
		return crm.Result{ID: fmt.Sprintf("%s-%d", strings.ToLower(workflow), n.Add(1))}, nil
	}
	return d
}

// Key implements Dispatcher like dispatch.Key.
func (d *fakeDispatcher) Key(tenant, workflow string, in events.CallInput) string {
	h := sha256.New()
	write := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	write("calldex-workflow-key-v1", tenant, workflow)
	if in.CallID != "" {
		write("callId", in.CallID)
	} else {
		write("inputs", in.OriginatorNumber, in.DestinationNumber, in.Direction, in.StartedTime,
			in.AnsweredTime, in.EndedTime, in.DeclinedTime, in.ContactCRMID, in.UserCRMID, in.MessageType)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (d *fakeDispatcher) Submit(ctx context.Context, tenant, workflow string, in events.CallInput, force bool) (string, error) {
	if d.down.Load() {
		return "", fmt.Errorf("submit %s/%s: %w: nats connection is CLOSED", tenant, workflow, dispatch.ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("submit: %w: %w", dispatch.ErrUnavailable, err)
	}
	key := d.Key(tenant, workflow, in)
	if force {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		key = hex.EncodeToString(b)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.subs = append(d.subs, submission{tenant, workflow, in, key})
	if _, ok := d.runs[key]; ok {
		return key, nil
	}
	run := &fakeRun{in: in, done: make(chan struct{}), res: events.WorkflowResult{
		Key: key, Tenant: tenant, Workflow: workflow, Status: events.StatusAccepted, UpdatedAt: time.Now(),
	}}
	d.runs[key] = run
	go d.work(run)
	return key, nil
}

func (d *fakeDispatcher) work(run *fakeRun) {
	time.Sleep(time.Duration(d.delay.Load()))
	d.mu.Lock()
	run.res.Status, run.res.Attempts = events.StatusRunning, 1
	d.ran[run.res.Key]++
	tenant, workflow, exec := run.res.Tenant, run.res.Workflow, d.exec
	d.mu.Unlock()
	res, err := exec(tenant, workflow, run.in)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		run.res.Status, run.res.LastError = events.StatusFailed, err.Error()
	} else {
		run.res.Status, run.res.ID, run.res.URL = events.StatusDone, res.ID, res.URL
	}
	run.res.UpdatedAt = time.Now()
	close(run.done)
}

func (d *fakeDispatcher) Wait(ctx context.Context, key string, wait time.Duration) (events.WorkflowResult, error) {
	d.mu.Lock()
	run, ok := d.runs[key]
	d.mu.Unlock()
	if !ok {
		return events.WorkflowResult{}, fmt.Errorf("wait %s: %w", key, dispatch.ErrNotFound)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-run.done:
	case <-t.C:
	case <-ctx.Done():
	}
	return d.Status(ctx, key)
}

func (d *fakeDispatcher) Status(_ context.Context, key string) (events.WorkflowResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	run, ok := d.runs[key]
	if !ok {
		return events.WorkflowResult{}, fmt.Errorf("status %s: %w", key, dispatch.ErrNotFound)
	}
	return run.res, nil
}

// setExec replaces the worker; it returns the previous one.
func (d *fakeDispatcher) setExec(exec func(tenant, workflow string, in events.CallInput) (crm.Result, error)) func(string, string, events.CallInput) (crm.Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.exec
	d.exec = exec
	return prev
}

// runs counts the executions of a workflow, over every key.
func (d *fakeDispatcher) runsOf(workflow string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for key, c := range d.ran {
		if d.runs[key].res.Workflow == workflow {
			n += c
		}
	}
	return n
}

// executions of one key.
func (d *fakeDispatcher) executions(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ran[key]
}

// submitted lists what was submitted for a workflow, in order.
func (d *fakeDispatcher) submitted(workflow string) []submission {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []submission
	for _, s := range d.subs {
		if s.Workflow == workflow {
			out = append(out, s)
		}
	}
	return out
}

// fakeCRM is a strict CRM: its phone search matches numbers only as stored,
// character for character, as the CRMs App Connect's alternative formats
// exist for.
type fakeCRM struct {
	mu       sync.Mutex
	contacts []events.Contact
	searched [][]string
	created  []crm.NewContact
	failNext error
}

var _ appconnect.CRM = (*fakeCRM)(nil)

// The fake has every capability App Connect uses.
func (f *fakeCRM) PhoneSearcher() (crm.PhoneSearcher, bool)   { return f, true }
func (f *fakeCRM) NameSearcher() (crm.NameSearcher, bool)     { return f, true }
func (f *fakeCRM) ContactCreator() (crm.ContactCreator, bool) { return f, true }

func (f *fakeCRM) SearchPhone(_ context.Context, numbers []string) ([]events.Contact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.searched = append(f.searched, numbers)
	var out []events.Contact
	for _, c := range f.contacts {
		for _, p := range c.Phones {
			for _, n := range numbers {
				if p.Raw == n {
					out = append(out, c)
				}
			}
		}
	}
	return out, nil
}

func (f *fakeCRM) SearchName(_ context.Context, name string, limit int) ([]events.Contact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []events.Contact
	for _, c := range f.contacts {
		if strings.Contains(strings.ToLower(c.Name), strings.ToLower(name)) && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeCRM) CreateContact(_ context.Context, nc crm.NewContact) (events.Contact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failNext; err != nil {
		f.failNext = nil
		return events.Contact{}, err
	}
	f.created = append(f.created, nc)
	c := events.Contact{ID: fmt.Sprintf("crm-%d", len(f.created)), Name: nc.Name, Type: nc.Type, Phones: []events.Phone{{Raw: nc.Phone}}}
	f.contacts = append(f.contacts, c)
	return c, nil
}

func (f *fakeCRM) setContacts(cs ...events.Contact) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.contacts = cs
}

func (f *fakeCRM) failWith(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = err
}

func (f *fakeCRM) createdContacts() []crm.NewContact {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]crm.NewContact(nil), f.created...)
}

func (f *fakeCRM) searches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.searched)
}

func (f *fakeCRM) lastSearch() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.searched) == 0 {
		return nil
	}
	return f.searched[len(f.searched)-1]
}

var errPermanent = crm.Permanent(errors.New("CRM answered 422: name is required"))
