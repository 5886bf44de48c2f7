package projector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Memory is the checkpoint of an in-process index: it starts at zero, like
// the index, so every start rebuilds from the stream. It is safe for
// concurrent use (Readiness reads it while the projector saves).
type Memory struct{ seq atomic.Uint64 }

// Load returns the last saved sequence.
func (m *Memory) Load(context.Context) (uint64, error) { return m.seq.Load(), nil }

// Save remembers seq.
func (m *Memory) Save(_ context.Context, seq uint64) error { m.seq.Store(seq); return nil }

// Redis keeps the checkpoint in the same Redis as the index, and with it
// what the projector last set each tenant generation's marker to (see
// index.Mark), so that a restarted projector still notices an index that
// lost data while it was down. With prefix "cdx":
//
//	cdx:projector:CONTACTS            STRING  last sequence applied
//	{cdx:projector:CONTACTS}:marks    HASH    "tenant/generation" → marker value
//
// The hash tag puts both in one Redis Cluster slot, so they are saved at
// once (MULTI).
type Redis struct {
	rdb   redis.UniversalClient
	key   string
	marks string
}

var (
	_ Checkpoint = (*Redis)(nil)
	_ markStore  = (*Redis)(nil)
)

// NewRedis stores the checkpoint under <prefix>:projector:<stream>.
func NewRedis(rdb redis.UniversalClient, prefix, stream string) *Redis {
	key := prefix + ":projector:" + stream
	return &Redis{rdb: rdb, key: key, marks: "{" + key + "}:marks"}
}

// Load returns the saved sequence, 0 when there is none.
func (r *Redis) Load(ctx context.Context) (uint64, error) {
	v, err := r.rdb.Get(ctx, r.key).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load checkpoint %s: %w", r.key, err)
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", r.key, err)
	}
	return seq, nil
}

// Save stores seq.
func (r *Redis) Save(ctx context.Context, seq uint64) error {
	if err := r.rdb.Set(ctx, r.key, seq, 0).Err(); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", r.key, err)
	}
	return nil
}

// LoadMarks returns the marker values saved with the checkpoint, by
// "tenant/generation".
func (r *Redis) LoadMarks(ctx context.Context) (map[string]uint64, error) {
	raw, err := r.rdb.HGetAll(ctx, r.marks).Result()
	if err != nil {
		return nil, fmt.Errorf("load marks %s: %w", r.marks, err)
	}
	out := make(map[string]uint64, len(raw))
	for k, v := range raw {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("mark %s of %s: %w", k, r.marks, err)
		}
		out[k] = n
	}
	return out, nil
}

// SaveMarks stores seq and replaces the saved marker values, at once.
func (r *Redis) SaveMarks(ctx context.Context, seq uint64, marks map[string]uint64) error {
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.key, seq, 0)
		p.Del(ctx, r.marks)
		if len(marks) > 0 {
			kv := make([]any, 0, 2*len(marks))
			for k, v := range marks {
				kv = append(kv, k, v)
			}
			p.HSet(ctx, r.marks, kv...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", r.key, err)
	}
	return nil
}
