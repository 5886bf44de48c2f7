package crmsync

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

func isNotFound(err error) bool { return errors.Is(err, jetstream.ErrKeyNotFound) }

// subjectPrefix is "<prefix.>contacts.<tenant>.<source>." of the source.
func (s *source) subjectPrefix() string {
	return strings.TrimSuffix(s.sy.cfg.Topology.ContactSubject(s.tenant, s.name, "x"), "x")
}

// reconcile ends a full resync: every contact subject of the source in
// CONTACTS (listed with the stream's subject filter) that the pass did not
// list gets a tombstone. Subjects that already hold a tombstone get
// another one, which changes nothing downstream. It returns how many
// tombstones it published.
func (s *source) reconcile(ctx context.Context) (int, error) {
	streamName := s.sy.cfg.Topology.Stream(events.StreamContacts)
	stream, err := s.sy.deps.JS.Stream(ctx, streamName)
	if err != nil {
		return 0, fmt.Errorf("open stream %s: %w", streamName, err)
	}
	prefix := s.subjectPrefix()
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+"*"))
	if err != nil {
		return 0, fmt.Errorf("list subjects of %s: %w", prefix+"*", err)
	}
	n := 0
	for subject := range info.State.Subjects {
		token := strings.TrimPrefix(subject, prefix)
		if _, ok := s.seen[token]; ok {
			continue
		}
		id, ok := unescapeToken(token)
		if !ok {
			s.log.Warn("crm sync: subject of no contact id left alone", "subject", subject)
			continue
		}
		if _, err := s.sy.deps.Contacts.Delete(ctx, s.tenant, s.name, id); err != nil {
			return n, err
		}
		n++
		s.sy.deps.Metrics.SyncContacts.WithLabelValues(s.tenant, s.name, "delete").Inc()
	}
	return n, nil
}

// unescapeToken reverses events.SubjectToken; false when token is not what
// SubjectToken makes of any id.
func unescapeToken(token string) (string, bool) {
	if token == "" || token == "%" {
		return "", false
	}
	if !strings.Contains(token, "%") {
		return token, events.SubjectToken(token) == token
	}
	var b strings.Builder
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(token) {
			return "", false
		}
		v, err := strconv.ParseUint(token[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	id := b.String()
	return id, events.SubjectToken(id) == token
}
