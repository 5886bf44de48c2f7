package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

// recentScan bounds how many result writes one Recent reads: a tenant
// whose runs are rare among others' shows fewer than asked rather than
// making an operator's page read the whole bucket.
const recentScan = 5000

// Recent returns the newest workflow results, newest first: the latest
// record of each key, of one tenant ("" for every tenant), at most limit.
// It reads the bucket's stream backwards, so its cost follows limit, not
// the bucket's size.
func (d *Dispatcher) Recent(ctx context.Context, tenant string, limit int) ([]events.WorkflowResult, error) {
	st, err := d.results.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("results bucket: %w", err)
	}
	info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
	stream, err := d.js.Stream(ctx, info.Config.Name)
	if err != nil {
		return nil, fmt.Errorf("results stream %s: %w", info.Config.Name, err)
	}
	prefix := "$KV." + st.Bucket() + "."
	out := []events.WorkflowResult{}
	seen := map[string]bool{}
	for seq, n := info.State.LastSeq, 0; seq >= info.State.FirstSeq && seq > 0 && n < recentScan && len(out) < limit; seq, n = seq-1, n+1 {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("results stream %s: %w", info.Config.Name, err)
		}
		key := strings.TrimPrefix(m.Subject, prefix)
		if seen[key] {
			continue
		}
		seen[key] = true
		var r events.WorkflowResult
		if m.Header.Get("KV-Operation") != "" || json.Unmarshal(m.Data, &r) != nil { // a delete or purge
			continue
		}
		if tenant == "" || r.Tenant == tenant {
			out = append(out, r)
		}
	}
	return out, nil
}
