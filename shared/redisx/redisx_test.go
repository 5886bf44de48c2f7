package redisx_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/shared/redisx"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		kind    redisx.Kind
		addrs   []string
		wantErr error
	}{
		{"single", "redis://127.0.0.1:6379/2", redisx.Single, []string{"127.0.0.1:6379"}, nil},
		{"single tls", "rediss://h:6380", redisx.Single, []string{"h:6380"}, nil},
		{"sentinel scheme", "redis+sentinel://s1:26379/0?master_name=m&addr=s2:26379", redisx.Sentinel, []string{"s1:26379", "s2:26379"}, nil},
		{"sentinel by master_name", "redis://s1:26379?master_name=m", redisx.Sentinel, []string{"s1:26379"}, nil},
		{"sentinel without master", "redis+sentinel://s1:26379", "", nil, redisx.ErrURL},
		{"cluster", "redis+cluster://n1:7000?addr=n2:7001&addr=n3:7002", redisx.Cluster, []string{"n1:7000", "n2:7001", "n3:7002"}, nil},
		{"cluster tls", "rediss+cluster://n1:7000", redisx.Cluster, []string{"n1:7000"}, nil},
		{"unknown mode", "redis+shard://n1:7000", "", nil, redisx.ErrURL},
		{"unknown scheme", "http://n1:7000", "", nil, redisx.ErrURL},
		{"addr on a single URL", "redis://n1:7000?addr=n2:7000", "", nil, redisx.ErrURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, opt, err := redisx.Parse(tt.url)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse(%q) error %v, want %v", tt.url, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if kind != tt.kind {
				t.Errorf("kind %s, want %s", kind, tt.kind)
			}
			var addrs []string
			var ctxTimeouts bool
			switch o := opt.(type) {
			case *redis.Options:
				addrs, ctxTimeouts = []string{o.Addr}, o.ContextTimeoutEnabled
			case *redis.FailoverOptions:
				addrs, ctxTimeouts = o.SentinelAddrs, o.ContextTimeoutEnabled
				if o.MasterName != "m" {
					t.Errorf("master %q, want m", o.MasterName)
				}
			case *redis.ClusterOptions:
				addrs, ctxTimeouts = o.Addrs, o.ContextTimeoutEnabled
			}
			if !slices.Equal(addrs, tt.addrs) {
				t.Errorf("addresses %v, want %v", addrs, tt.addrs)
			}
			if !ctxTimeouts {
				t.Error("context deadlines are not honoured")
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	got := redisx.Redacted("redis://u:secret@h:1/0?master_name=m&password=other")
	if want := "redis://u:xxxxx@h:1/0?master_name=m&password=xxxxx"; got != want {
		t.Errorf("Redacted = %q, want %q", got, want)
	}
}
