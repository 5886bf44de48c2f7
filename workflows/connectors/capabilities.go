package connectors

import (
	"context"
	"fmt"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
)

// The accessors below hand out a connector's capabilities, each wrapped so
// that every call goes through the instance's breaker: an open breaker
// fails the call at once with a transient breaker.ErrOpen, and the call's
// outcome counts towards opening it. false means the connector does not
// have the capability.

// CallLogger returns the guarded crm.CallLogger.
func (c *Connector) CallLogger() (crm.CallLogger, bool) {
	return capability(c, func(x crm.CallLogger) crm.CallLogger { return callLogger{c, x} })
}

// TicketCreator returns the guarded crm.TicketCreator.
func (c *Connector) TicketCreator() (crm.TicketCreator, bool) {
	return capability(c, func(x crm.TicketCreator) crm.TicketCreator { return ticketCreator{c, x} })
}

// MessageLogger returns the guarded crm.MessageLogger.
func (c *Connector) MessageLogger() (crm.MessageLogger, bool) {
	return capability(c, func(x crm.MessageLogger) crm.MessageLogger { return messageLogger{c, x} })
}

// DispositionLogger returns the guarded crm.DispositionLogger.
func (c *Connector) DispositionLogger() (crm.DispositionLogger, bool) {
	return capability(c, func(x crm.DispositionLogger) crm.DispositionLogger { return dispositionLogger{c, x} })
}

// ChangeLister returns the guarded crm.ChangeLister.
func (c *Connector) ChangeLister() (crm.ChangeLister, bool) {
	return capability(c, func(x crm.ChangeLister) crm.ChangeLister { return changeLister{c, x} })
}

// ChangeNotifier returns the crm.ChangeNotifier when the instance is set
// up to notify. It is not guarded: listening holds a connection open and
// makes no call the breaker could count.
func (c *Connector) ChangeNotifier() (crm.ChangeNotifier, bool) {
	x, ok := c.impl.(crm.ChangeNotifier)
	if !ok || !x.Notifies() {
		return nil, false
	}
	return x, true
}

// PhoneSearcher returns the guarded crm.PhoneSearcher.
func (c *Connector) PhoneSearcher() (crm.PhoneSearcher, bool) {
	return capability(c, func(x crm.PhoneSearcher) crm.PhoneSearcher { return phoneSearcher{c, x} })
}

// NameSearcher returns the guarded crm.NameSearcher.
func (c *Connector) NameSearcher() (crm.NameSearcher, bool) {
	return capability(c, func(x crm.NameSearcher) crm.NameSearcher { return nameSearcher{c, x} })
}

// ContactCreator returns the guarded crm.ContactCreator.
func (c *Connector) ContactCreator() (crm.ContactCreator, bool) {
	return capability(c, func(x crm.ContactCreator) crm.ContactCreator { return contactCreator{c, x} })
}

// capability wraps the implementation as capability C when it has it.
func capability[C any](c *Connector, wrap func(C) C) (C, bool) {
	x, ok := c.impl.(C)
	if !ok {
		var zero C
		return zero, false
	}
	return wrap(x), true
}

// guard runs one capability call through c's breaker and names the
// connector and the operation in its error. A call on an instance that
// Invalidate replaced fails with a transient ErrReplaced; drain waits for
// the calls in flight.
func guard[T any](ctx context.Context, c *Connector, op string, run func(context.Context) (T, error)) (T, error) {
	var out T
	c.calls.RLock()
	defer c.calls.RUnlock()
	if c.replaced {
		return out, crm.Transient(fmt.Errorf("connector %s (%s): %w", c.Name, c.Type, ErrReplaced))
	}
	err := c.breaker.Do(ctx, func(ctx context.Context) error {
		var err error
		out, err = run(ctx)
		return err
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("connector %s %s: %w", c.Name, op, err)
	}
	return out, nil
}

// One wrapper type per capability: Go cannot add a method by generics, so
// each states its method and hands the call to guard.

type callLogger struct {
	c *Connector
	x crm.CallLogger
}

func (g callLogger) LogCall(ctx context.Context, call crm.Call) (crm.Result, error) {
	return guard(ctx, g.c, ActionLogCall, func(ctx context.Context) (crm.Result, error) { return g.x.LogCall(ctx, call) })
}

type ticketCreator struct {
	c *Connector
	x crm.TicketCreator
}

func (g ticketCreator) CreateTicket(ctx context.Context, call crm.Call) (crm.Result, error) {
	return guard(ctx, g.c, ActionCreateTicket, func(ctx context.Context) (crm.Result, error) { return g.x.CreateTicket(ctx, call) })
}

type messageLogger struct {
	c *Connector
	x crm.MessageLogger
}

func (g messageLogger) LogMessage(ctx context.Context, call crm.Call) (crm.Result, error) {
	return guard(ctx, g.c, ActionLogMessage, func(ctx context.Context) (crm.Result, error) { return g.x.LogMessage(ctx, call) })
}

type dispositionLogger struct {
	c *Connector
	x crm.DispositionLogger
}

func (g dispositionLogger) LogDisposition(ctx context.Context, call crm.Call) (crm.Result, error) {
	return guard(ctx, g.c, ActionLogDisposition, func(ctx context.Context) (crm.Result, error) { return g.x.LogDisposition(ctx, call) })
}

type changeLister struct {
	c *Connector
	x crm.ChangeLister
}

func (g changeLister) ListChanges(ctx context.Context, cursor string) (crm.Page, error) {
	return guard(ctx, g.c, "listChanges", func(ctx context.Context) (crm.Page, error) { return g.x.ListChanges(ctx, cursor) })
}

type phoneSearcher struct {
	c *Connector
	x crm.PhoneSearcher
}

func (g phoneSearcher) SearchPhone(ctx context.Context, numbers []string) ([]events.Contact, error) {
	return guard(ctx, g.c, "searchPhone", func(ctx context.Context) ([]events.Contact, error) { return g.x.SearchPhone(ctx, numbers) })
}

type nameSearcher struct {
	c *Connector
	x crm.NameSearcher
}

func (g nameSearcher) SearchName(ctx context.Context, name string, limit int) ([]events.Contact, error) {
	return guard(ctx, g.c, "searchName", func(ctx context.Context) ([]events.Contact, error) { return g.x.SearchName(ctx, name, limit) })
}

type contactCreator struct {
	c *Connector
	x crm.ContactCreator
}

func (g contactCreator) CreateContact(ctx context.Context, nc crm.NewContact) (events.Contact, error) {
	return guard(ctx, g.c, "createContact", func(ctx context.Context) (events.Contact, error) { return g.x.CreateContact(ctx, nc) })
}

// Capabilities is what a connector can do, as Factory.Check tells it
// before the connector is built.
type Capabilities struct {
	// Actions are the workflow actions (ActionLogCall, …) it can run.
	Actions []string
	// ListChanges: it can be a sync source.
	ListChanges bool
	// SearchPhone, SearchName, CreateContact: the live lookup fallback and
	// App Connect can use it so.
	SearchPhone, SearchName, CreateContact bool
}

// capabilitiesOf tells what an implementation can do from the interfaces
// it implements (which a nil pointer of its type implements as well).
func capabilitiesOf(impl any) Capabilities {
	var c Capabilities
	if _, ok := impl.(crm.CallLogger); ok {
		c.Actions = append(c.Actions, ActionLogCall)
	}
	if _, ok := impl.(crm.TicketCreator); ok {
		c.Actions = append(c.Actions, ActionCreateTicket)
	}
	if _, ok := impl.(crm.MessageLogger); ok {
		c.Actions = append(c.Actions, ActionLogMessage)
	}
	if _, ok := impl.(crm.DispositionLogger); ok {
		c.Actions = append(c.Actions, ActionLogDisposition)
	}
	_, c.ListChanges = impl.(crm.ChangeLister)
	_, c.SearchPhone = impl.(crm.PhoneSearcher)
	_, c.SearchName = impl.(crm.NameSearcher)
	_, c.CreateContact = impl.(crm.ContactCreator)
	return c
}
