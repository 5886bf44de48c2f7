package redisx

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Kind is the deployment a URL names.
type Kind string

// Kinds of deployment.
const (
	Single   Kind = "single"
	Sentinel Kind = "sentinel"
	Cluster  Kind = "cluster"
)

// ErrURL wraps every error about the URL itself.
var ErrURL = errors.New("invalid Redis URL")

// Parse tells the deployment rawURL names (see the package doc) and returns
// go-redis's options for it: *redis.Options, *redis.FailoverOptions or
// *redis.ClusterOptions, each with ContextTimeoutEnabled set.
func Parse(rawURL string) (Kind, any, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrURL, err)
	}
	base, mode, _ := strings.Cut(u.Scheme, "+")
	plain := *u
	plain.Scheme = base
	switch {
	case mode == "cluster":
		o, err := redis.ParseClusterURL(plain.String())
		if err != nil {
			return "", nil, fmt.Errorf("%w: cluster: %w", ErrURL, err)
		}
		o.ContextTimeoutEnabled = true
		return Cluster, o, nil
	case mode == "sentinel" || u.Query().Has("master_name"):
		if u.Query().Get("master_name") == "" {
			return "", nil, fmt.Errorf("%w: a Sentinel URL needs master_name", ErrURL)
		}
		o, err := redis.ParseFailoverURL(plain.String())
		if err != nil {
			return "", nil, fmt.Errorf("%w: sentinel: %w", ErrURL, err)
		}
		o.ContextTimeoutEnabled = true
		return Sentinel, o, nil
	case mode != "":
		return "", nil, fmt.Errorf("%w: unknown scheme %q (redis, rediss, redis+sentinel, redis+cluster)", ErrURL, u.Scheme)
	}
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrURL, err)
	}
	o.ContextTimeoutEnabled = true
	return Single, o, nil
}

// New returns a client for rawURL without dialling.
func New(rawURL string) (redis.UniversalClient, Kind, error) {
	kind, opt, err := Parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	switch o := opt.(type) {
	case *redis.ClusterOptions:
		return redis.NewClusterClient(o), kind, nil
	case *redis.FailoverOptions:
		return redis.NewFailoverClient(o), kind, nil
	default:
		return redis.NewClient(opt.(*redis.Options)), kind, nil
	}
}

// Open returns a client for rawURL that answered a PING within ctx.
func Open(ctx context.Context, rawURL string) (redis.UniversalClient, Kind, error) {
	rdb, kind, err := New(rawURL)
	if err != nil {
		return nil, "", err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, "", fmt.Errorf("redis %s at %s: %w", kind, Redacted(rawURL), err)
	}
	return rdb, kind, nil
}

// Redacted is rawURL without its password, for logs and errors.
func Redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Scan calls fn with every key matching the SCAN pattern match. On a
// Cluster it scans every master (SCAN covers one node); fn is never called
// concurrently.
func Scan(ctx context.Context, rdb redis.UniversalClient, match string, fn func(key string)) error {
	var mu sync.Mutex
	scan := func(ctx context.Context, node redis.Cmdable) error {
		iter := node.Scan(ctx, 0, match, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			fn(iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	if c, ok := rdb.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	}
	return scan(ctx, rdb)
}
