// Package redistest gives tests a real Redis: the one at REDIS_URL (default
// redis://127.0.0.1:6379/0), probed once per test binary. Each test gets its
// own client and a unique key prefix, and everything under that prefix is
// deleted when the test ends, so tests can run in parallel on one server.
//
// Without a reachable Redis a test is skipped with a how-to-start message,
// except under CI=true, where it fails: CI must never pass by skipping.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is used when REDIS_URL is not set.
const DefaultURL = "redis://127.0.0.1:6379/0"

// probeTimeout bounds the one ping; a Redis that cannot answer it this fast
// is not one to test against.
const probeTimeout = 2 * time.Second

// probe remembers the outcome of the single ping, so that a missing Redis
// costs one dial per test binary rather than one per test.
var probe = sync.OnceValues(func() (*redis.Options, error) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = DefaultURL
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL %q: %w", url, err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis at %s: %w", url, err)
	}
	return opt, nil
})

// Client returns a client of the test Redis and a key prefix unique to this
// test ("cdxtest:<random>"). Every key the test writes must start with the
// prefix: they are all deleted (SCAN + UNLINK) when the test ends, then the
// client is closed.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := probe()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: %v (CI=true: Redis is required)", err)
		}
		t.Skipf("redistest: %v; start one with\n"+
			"\tredis-server --daemonize yes --port 6379 --save \"\" --appendonly no\n"+
			"or point REDIS_URL at one", err)
	}
	prefix := "cdxtest:" + randomHex(t)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() {
		if err := deletePrefix(rdb, prefix); err != nil {
			t.Errorf("redistest: clean up %s: %v", prefix, err)
		}
		if err := rdb.Close(); err != nil {
			t.Errorf("redistest: close: %v", err)
		}
	})
	return rdb, prefix
}

// deletePrefix removes every key starting with prefix. It uses its own
// context: the test's is already cancelled when cleanups run.
func deletePrefix(rdb *redis.Client, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The prefix is "cdxtest:" and hex digits, so it holds no glob characters.
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return rdb.Unlink(ctx, batch...).Err()
	}
	return nil
}

// randomHex returns 16 random hex digits: enough that concurrent test runs
// on one Redis never share a prefix.
func randomHex(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("redistest: random prefix: %v", err)
	}
	return hex.EncodeToString(b)
}
