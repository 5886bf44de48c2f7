package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/worker"
)

// HeaderRedriveOf is "<DLQ stream>:<seq>" on a redriven message.
const HeaderRedriveOf = "Calldex-Redrive-Of"

// ErrNotFound is returned for a dead letter the DLQ does not hold.
var ErrNotFound = errors.New("no such dead letter")

// Letter is one message of the DLQ stream.
type Letter struct {
	// ID is its sequence in the DLQ stream.
	ID uint64 `json:"id"`
	// Time is when it was dead-lettered.
	Time time.Time `json:"time"`
	// Subject is where it came from and where a redrive puts it back.
	Subject  string `json:"subject"`
	Reason   string `json:"reason"`
	Attempts int    `json:"attempts"`
	// OriginalSeq is its sequence in its original stream.
	OriginalSeq uint64 `json:"originalSeq,omitempty"`
	Type        string `json:"type,omitempty"`
	Tenant      string `json:"tenant,omitempty"`
	// Key is the idempotency key of a workflow request.
	Key string `json:"key,omitempty"`
	// Filled by Detail only:
	Headers map[string]string `json:"headers,omitempty"`
	Event   json.RawMessage   `json:"event,omitempty"`
	Status  string            `json:"status,omitempty"`

	data   []byte
	header nats.Header
}

// Config tunes a Store; the zero value is ready.
type Config struct {
	// Timeout bounds each NATS request (default 5s).
	Timeout time.Duration
	// AfterPublish, when set, runs after a redrive's republish was acked
	// and before its dead letter is deleted (tests cut NATS there).
	AfterPublish func(id uint64)
}

// Store reads and redrives the DLQ of one topology.
type Store struct {
	js   jetstream.JetStream
	topo events.Topology
	cfg  Config
}

// New returns a Store on js.
func New(js jetstream.JetStream, topo events.Topology, cfg Config) *Store {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Store{js: js, topo: topo, cfg: cfg}
}

// TenantFilter matches the dead letters of a tenant's workflows.
func (s *Store) TenantFilter(tenant string) string { return s.topo.WorkflowsFilter(tenant) }

func (s *Store) stream(ctx context.Context) (jetstream.Stream, error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	name := s.topo.Stream(events.StreamDLQ)
	st, err := s.js.Stream(rctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	return st, nil
}

// decode reads what a dead letter says about itself.
func (s *Store) decode(id uint64, subject string, stored time.Time, h nats.Header, data []byte) Letter {
	d := Letter{ID: id, Time: stored.UTC(), data: data, header: h,
		Subject: h.Get(worker.HeaderDLQSubject), Reason: h.Get(worker.HeaderDLQReason)}
	if d.Subject == "" {
		d.Subject = strings.TrimPrefix(subject, s.topo.DLQSubject(""))
	}
	d.Attempts, _ = strconv.Atoi(h.Get(worker.HeaderDLQAttempts))
	d.OriginalSeq, _ = strconv.ParseUint(h.Get(worker.HeaderDLQSeq), 10, 64)
	if t, err := time.Parse(time.RFC3339Nano, h.Get(worker.HeaderDLQTime)); err == nil {
		d.Time = t.UTC()
	}
	if env, err := events.Decode(data); err == nil {
		d.Type, d.Tenant = env.Type, env.Tenant
		var req events.WorkflowRequested
		if env.Type == events.TypeWorkflowRequested && env.Payload(&req) == nil {
			d.Key = req.Key
		}
	}
	return d
}

// List reads the DLQ in order: the dead letters from subjects matching
// filter (an original subject filter such as TenantFilter's; "" for all),
// at most limit when limit > 0.
func (s *Store) List(ctx context.Context, filter string, limit int) ([]Letter, error) {
	st, err := s.stream(ctx)
	if err != nil {
		return nil, err
	}
	out := []Letter{}
	if st.CachedInfo().State.Msgs == 0 {
		return out, nil
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if filter != "" {
		cfg.FilterSubjects = []string{s.topo.DLQSubject(filter)}
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read DLQ: %w", err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			return out, fmt.Errorf("read DLQ: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			md, err := msg.Metadata()
			if err != nil {
				continue
			}
			n++
			out = append(out, s.decode(md.Sequence.Stream, msg.Subject(), md.Timestamp, msg.Headers(), msg.Data()))
			if limit > 0 && len(out) >= limit || md.NumPending == 0 {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			return out, fmt.Errorf("read DLQ: %w", err)
		}
		if n == 0 {
			// Nothing matched within the wait: the filter matches none.
			return out, nil
		}
	}
}

// Get reads one dead letter by ID (ErrNotFound when the DLQ lacks it).
func (s *Store) Get(ctx context.Context, id uint64) (Letter, error) {
	st, err := s.stream(ctx)
	if err != nil {
		return Letter{}, err
	}
	return s.get(ctx, st, id)
}

func (s *Store) get(ctx context.Context, st jetstream.Stream, id uint64) (Letter, error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	m, err := st.GetMsg(rctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Letter{}, fmt.Errorf("dead letter %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Letter{}, fmt.Errorf("dead letter %d: %w", id, err)
	}
	return s.decode(m.Sequence, m.Subject, m.Time, m.Header, m.Data), nil
}

// Detail fills a dead letter's headers, its event (as JSON, or a string
// describing binary data) and, for a workflow request, its key's status in
// workflow_results.
func (s *Store) Detail(ctx context.Context, d *Letter) {
	d.Headers = map[string]string{}
	for k := range d.header {
		d.Headers[k] = d.header.Get(k)
	}
	if json.Valid(d.data) {
		d.Event = d.data
	} else {
		text := string(d.data)
		if !utf8.Valid(d.data) {
			text = fmt.Sprintf("<%d bytes of binary data>", len(d.data))
		}
		d.Event, _ = json.Marshal(text)
	}
	if d.Key != "" {
		d.Status = s.workflowStatus(ctx, d.Key)
	}
}

// workflowStatus reads a key's status in workflow_results ("unknown" when
// it cannot be read, "none" when there is no record).
func (s *Store) workflowStatus(ctx context.Context, key string) string {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	kv, err := s.js.KeyValue(rctx, s.topo.Stream(events.BucketWorkflowResults))
	if err != nil {
		return "unknown"
	}
	e, err := kv.Get(rctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "none"
	}
	if err != nil {
		return "unknown"
	}
	var r events.WorkflowResult
	if json.Unmarshal(e.Value(), &r) != nil {
		return "unreadable"
	}
	return r.Status
}
