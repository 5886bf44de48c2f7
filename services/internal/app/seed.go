package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
)

// seed imports a contacts file (empty path: the built-in demo contacts)
// for a tenant when CONTACTS holds none of its contacts yet, so a restart
// keeps what users changed.
func seed(ctx context.Context, js jetstream.JetStream, topo events.Topology, pub *contact.Publisher, tenantID, path string, log *slog.Logger) error {
	stream, err := js.Stream(ctx, topo.Stream(events.StreamContacts))
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(topo.ContactsFilter(tenantID)))
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if len(info.State.Subjects) > 0 {
		return nil
	}
	var in io.Reader = bytes.NewReader(DemoContacts())
	from := "built-in demo contacts"
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("seed: CALLDEX_DEMO_CONTACTS: %w", err)
		}
		defer f.Close()
		in, from = f, path
	}
	var cs []events.Contact
	err = contact.Read(in, contact.FormatOf(path), "demo", func(r contact.Record) error {
		if r.Err != nil {
			return fmt.Errorf("seed %s line %d: %w", from, r.Line, r.Err)
		}
		cs = append(cs, r.Contact)
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := pub.UpsertMany(ctx, tenantID, cs); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	log.Info("seeded demo contacts", "tenant", tenantID, "count", len(cs), "from", from)
	return nil
}
