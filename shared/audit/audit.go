// Package audit records administrative actions as events on the AUDIT
// stream (events.AuditEntry): the admin API's routes and calldexctl's
// commands that change something. Reading them back: calldexctl audit.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

// Publisher publishes audit events and waits for JetStream's ack.
type Publisher struct {
	js   jetstream.JetStream
	topo events.Topology
	now  func() time.Time
}

// New builds a Publisher on a ready JetStream (the AUDIT stream set up by
// natsx.Setup).
func New(js jetstream.JetStream, topo events.Topology) *Publisher {
	return &Publisher{js: js, topo: topo, now: time.Now}
}

// Record publishes e for tenant (events.NoTenant for none) and returns
// once it is stored.
func (p *Publisher) Record(ctx context.Context, tenant string, e events.AuditEntry) error {
	if tenant == "" || events.ValidID(tenant) != nil {
		tenant = events.NoTenant
	}
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	env, err := events.New(hex.EncodeToString(id), events.TypeAdminAction, tenant, e.Via, p.now(), e)
	if err != nil {
		return err
	}
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("marshal audit event: %w", err)
	}
	if _, err := p.js.Publish(ctx, p.topo.AuditSubject(tenant), b); err != nil {
		return fmt.Errorf("publish audit event %s %s: %w", e.Action, e.Outcome, err)
	}
	return nil
}

// OutcomeOf classifies an HTTP status as an audit outcome.
func OutcomeOf(status int) string {
	switch {
	case status < 400:
		return events.OutcomeOK
	case status == 401, status == 403, status == 429:
		return events.OutcomeRefused
	default:
		return events.OutcomeFailed
	}
}

// MaskNumber hides a phone number but its first three and last two
// characters: an erased number must not live on in the audit.
func MaskNumber(n string) string {
	if len(n) <= 5 {
		return strings.Repeat("*", len(n))
	}
	return n[:3] + strings.Repeat("*", len(n)-5) + n[len(n)-2:]
}
