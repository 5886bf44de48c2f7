package erasure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
)

// Index finds the contacts holding a number (index.Index).
type Index interface {
	Lookup(ctx context.Context, tenant string, keys []phone.Key, limit int) ([]index.Match, error)
}

// Contacts publishes a contact to CONTACTS and returns its sequence
// (*contact.Publisher).
type Contacts interface {
	Upsert(ctx context.Context, tenant string, c events.Contact) (uint64, error)
}

// Projection waits until the index has applied a CONTACTS sequence
// (*projector.Projector).
type Projection interface {
	WaitApplied(ctx context.Context, seq uint64) error
}

// CallLogs purges a tenant's App Connect call logs that hold a number
// (*appconnect.KVCallLogs); held reports whether a stored log holds it.
type CallLogs interface {
	Erase(ctx context.Context, tenant string, held func(data []byte) bool) (int, error)
}

// Risk forgets a number's caller risk counts (risk.Store).
type Risk interface {
	Forget(ctx context.Context, number string) (bool, error)
}

// Deps are what an Eraser works on; CallLogs may be nil (no App Connect),
// Risk too (caller risk off).
type Deps struct {
	Index      Index
	Contacts   Contacts
	Projection Projection
	JS         jetstream.JetStream
	Topology   events.Topology
	// Results is the workflow_results bucket.
	Results  jetstream.KeyValue
	CallLogs CallLogs
	Risk     Risk
}

// Eraser erases numbers.
type Eraser struct{ d Deps }

// New builds an Eraser.
func New(d Deps) (*Eraser, error) {
	if d.Index == nil || d.Contacts == nil || d.Projection == nil || d.JS == nil || d.Results == nil {
		return nil, errors.New("erasure: Index, Contacts, Projection, JS and Results are required")
	}
	return &Eraser{d: d}, nil
}

// Report is what an erasure removed, by store.
type Report struct {
	Tenant string `json:"tenant"`
	// Contacts are the contacts published again without the number
	// ("source/id").
	Contacts []string `json:"contacts"`
	// Removed counts by store: contacts (redacted), calls, workflows,
	// dlq (messages deleted), workflowResults, appConnectCallLogs (keys
	// purged), riskCounts (1 when the number had caller risk counts).
	Removed map[string]int `json:"removed"`
	// Indexed is true once the index no longer finds the number.
	Indexed bool `json:"indexed"`
}

// maxContacts bounds the contacts one erasure redacts.
const maxContacts = 10_000

// Erase removes the number e164 (already normalised, "+41215522000") of
// tenant, whose numbers read in opts, from every store. It is safe to run
// again: what is gone stays gone, and a second run finds nothing.
func (e *Eraser) Erase(ctx context.Context, tenant, e164 string, opts phone.Options) (Report, error) {
	rep := Report{Tenant: tenant, Contacts: []string{}, Removed: map[string]int{}}
	m, err := newMatcher(e164, opts)
	if err != nil {
		return rep, err
	}
	seq, err := e.redactContacts(ctx, tenant, m, &rep)
	if err != nil {
		return rep, err
	}
	t := e.d.Topology
	if rep.Removed["calls"], _, err = e.deleteMessages(ctx, t.Stream(events.StreamCalls), t.CallSubject(tenant, ">"), tenant, m); err != nil {
		return rep, err
	}
	n, keys, err := e.deleteMessages(ctx, t.Stream(events.StreamWorkflows), t.WorkflowsFilter(tenant), tenant, m)
	if err != nil {
		return rep, err
	}
	rep.Removed["workflows"] = n
	if rep.Removed["dlq"], _, err = e.deleteMessages(ctx, t.Stream(events.StreamDLQ), t.DLQSubject(t.WorkflowsFilter(tenant)), tenant, m); err != nil {
		return rep, err
	}
	for _, k := range keys {
		if err := e.d.Results.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return rep, fmt.Errorf("erase workflow result %s: %w", k, err)
		}
	}
	rep.Removed["workflowResults"] = len(keys)
	if e.d.CallLogs != nil {
		if rep.Removed["appConnectCallLogs"], err = e.d.CallLogs.Erase(ctx, tenant, m.holds); err != nil {
			return rep, err
		}
	}
	if e.d.Risk != nil {
		// The counts are of every tenant's calls together, but of this
		// number: the caller asked to be forgotten, not just by one tenant.
		had, err := e.d.Risk.Forget(ctx, m.e164)
		if err != nil {
			return rep, fmt.Errorf("erase risk counts: %w", err)
		}
		if had {
			rep.Removed["riskCounts"] = 1
		}
	}
	if seq > 0 {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		rep.Indexed = e.d.Projection.WaitApplied(wctx, seq) == nil
	} else {
		rep.Indexed = true
	}
	return rep, nil
}

// redactContacts publishes every contact found under the number again
// without it; it returns the last CONTACTS sequence published (0: none).
func (e *Eraser) redactContacts(ctx context.Context, tenant string, m matcher, rep *Report) (uint64, error) {
	matches, err := e.d.Index.Lookup(ctx, tenant, []phone.Key{phone.Key("e:" + m.e164)}, maxContacts)
	if err != nil {
		return 0, fmt.Errorf("erase: find contacts of the number: %w", err)
	}
	var last uint64
	for _, match := range matches {
		if match.Kind != phone.Exact {
			continue
		}
		c := match.Contact
		c.Phones = slices.DeleteFunc(slices.Clone(c.Phones), func(p events.Phone) bool {
			return p.Normalized == m.e164 || m.str(p.Raw)
		})
		seq, err := e.d.Contacts.Upsert(ctx, tenant, c)
		if err != nil {
			return 0, fmt.Errorf("erase: publish contact %s/%s without the number: %w", c.Source, c.ID, err)
		}
		last = max(last, seq)
		rep.Contacts = append(rep.Contacts, c.Source+"/"+c.ID)
	}
	rep.Removed["contacts"] = len(rep.Contacts)
	return last, nil
}

// deleteMessages securely deletes the messages of stream under filter, of
// tenant, that hold the number. A batch (events.DecodeBatch: several
// lookups in one message) holds other callers' events too: those are
// published again, as one batch on the same subject, before the message
// is deleted, so that erasing one number loses no other. It returns how
// many messages it deleted and their Nats-Msg-Id headers (workflow keys).
func (e *Eraser) deleteMessages(ctx context.Context, stream, filter, tenant string, m matcher) (int, []string, error) {
	s, err := e.d.JS.Stream(ctx, stream)
	if err != nil {
		return 0, nil, fmt.Errorf("erase: stream %s: %w", stream, err)
	}
	type hit struct {
		seq     uint64
		msgID   string
		subject string
		// others are the batch's events that do not hold the number.
		others []byte
	}
	var hits []hit
	err = scan(ctx, s, filter, func(msg jetstream.Msg, seq uint64) {
		if env, err := events.Decode(msg.Data()); err == nil && env.Tenant != tenant {
			return
		}
		if m.holds(msg.Data()) {
			hits = append(hits, hit{seq, msg.Headers().Get(nats.MsgIdHdr), msg.Subject(), m.othersOf(msg.Data())})
		}
	})
	if err != nil {
		return 0, nil, fmt.Errorf("erase: read %s: %w", stream, err)
	}
	var keys []string
	for _, h := range hits {
		if len(h.others) > 0 {
			if _, err := e.d.JS.Publish(ctx, h.subject, h.others); err != nil {
				return 0, nil, fmt.Errorf("erase: keep the other events of %s #%d: %w", stream, h.seq, err)
			}
		}
		if err := s.SecureDeleteMsg(ctx, h.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, nil, fmt.Errorf("erase: delete %s #%d: %w", stream, h.seq, err)
		}
		if h.msgID != "" {
			keys = append(keys, h.msgID)
		}
	}
	return len(hits), keys, nil
}

// scan calls fn with every message of s under filter stored when it starts.
func scan(ctx context.Context, s jetstream.Stream, filter string, fn func(jetstream.Msg, uint64)) error {
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return err
	}
	if info.NumPending == 0 {
		return nil
	}
	for {
		batch, err := c.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			md, err := msg.Metadata()
			if err != nil {
				return err
			}
			fn(msg, md.Sequence.Stream)
			if md.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return err
		}
		if got == 0 {
			return ctx.Err()
		}
	}
}

// matcher recognises a number in stored data.
type matcher struct {
	e164   string
	digits string
	key    phone.Key
	opts   phone.Options
}

func newMatcher(e164 string, opts phone.Options) (matcher, error) {
	n, err := phone.Normalize(e164, opts)
	if err != nil || n != e164 {
		return matcher{}, fmt.Errorf("erase: %q is not a number in E.164 form: %w", e164, errors.Join(err, events.ErrInvalid))
	}
	return matcher{e164: e164, digits: strings.TrimPrefix(e164, "+"), key: phone.Key("e:" + e164), opts: opts}, nil
}

// othersOf returns, of a batch message (one envelope a line), the lines
// that do not hold the number, joined again; nil for a message of one
// envelope or of none but the number's.
func (m matcher) othersOf(data []byte) []byte {
	if !bytes.Contains(data, []byte{'\n'}) {
		return nil
	}
	var kept [][]byte
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) > 0 && !m.holds(line) {
			kept = append(kept, line)
		}
	}
	return bytes.Join(kept, []byte{'\n'})
}

// holds reports whether a JSON document (or any text) holds the number in
// one of its strings.
func (m matcher) holds(data []byte) bool {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return m.str(string(data))
	}
	return m.walk(v)
}

func (m matcher) walk(v any) bool {
	switch v := v.(type) {
	case string:
		if m.str(v) {
			return true
		}
		// Envelopes carry their payload as JSON; so may other strings.
		if strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
			return m.holds([]byte(v))
		}
	case float64:
		return m.str(fmt.Sprintf("%.0f", v))
	case []any:
		return slices.ContainsFunc(v, m.walk)
	case map[string]any:
		for k, x := range v {
			if m.str(k) || m.walk(x) {
				return true
			}
		}
	}
	return false
}

// str reports whether s holds the number.
func (m matcher) str(s string) bool {
	digits := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			digits = append(digits, s[i])
		}
	}
	if len(digits) < 5 {
		return false
	}
	if strings.Contains(string(digits), m.digits) {
		return true
	}
	if len(s) > 40 {
		return false
	}
	keys, err := phone.Candidates(s, m.opts)
	return err == nil && slices.Contains(keys, m.key)
}
