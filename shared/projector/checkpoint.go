package projector

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Memory is the checkpoint of an in-process index: it starts at zero, like
// the index, so every start rebuilds from the stream.
type Memory struct{ seq uint64 }

// Load returns the last saved sequence.
func (m *Memory) Load(context.Context) (uint64, error) { return m.seq, nil }

// Save remembers seq.
func (m *Memory) Save(_ context.Context, seq uint64) error { m.seq = seq; return nil }

// Redis keeps the checkpoint in the same Redis as the index.
type Redis struct {
	rdb redis.UniversalClient
	key string
}

// NewRedis stores the checkpoint under <prefix>:projector:<stream>.
func NewRedis(rdb redis.UniversalClient, prefix, stream string) *Redis {
	return &Redis{rdb: rdb, key: prefix + ":projector:" + stream}
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
