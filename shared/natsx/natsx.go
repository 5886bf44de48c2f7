// Package natsx sets up what Calldex needs from NATS: an embedded JetStream
// server for the no-install default, and the streams and KV buckets named in
// package events.
package natsx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

// EmbeddedConfig configures an in-process NATS server with JetStream.
type EmbeddedConfig struct {
	// DataDir holds the JetStream file store; it survives restarts.
	DataDir string
	// Host and Port to listen on. Port -1 picks a free port; the default
	// binds loopback so calldexctl can reach the embedded server.
	Host string
	Port int
}

// StartEmbedded starts a NATS server with JetStream and waits until it
// accepts connections. Shut it down with Shutdown and WaitForShutdown.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("embedded nats: DataDir is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "calldex-embedded",
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	return srv, nil
}

// EnsureStreams creates or updates every stream of the topology.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, topo events.Topology) error {
	for _, s := range topo.Streams() {
		cfg := jetstream.StreamConfig{
			Name:              s.Name,
			Subjects:          s.Subjects,
			Storage:           jetstream.FileStorage,
			MaxMsgsPerSubject: s.MaxMsgsPerSubject,
			MaxAge:            time.Duration(s.MaxAgeDays) * 24 * time.Hour,
			// Duplicate window for Nats-Msg-Id: a workflow request re-sent
			// within it is recognised at the stream, before any worker.
			Duplicates: 10 * time.Minute,
		}
		if s.MaxMsgsPerSubject == 0 {
			cfg.MaxMsgsPerSubject = -1
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", s.Name, err)
		}
	}
	return nil
}

// Buckets are the KV buckets Calldex keeps state in.
type Buckets struct {
	WorkflowResults jetstream.KeyValue
	SyncCursors     jetstream.KeyValue
}

// EnsureBuckets creates or opens the KV buckets of the topology.
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, topo events.Topology) (Buckets, error) {
	results, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  topo.Stream(events.BucketWorkflowResults),
		History: 1,
		// Results outlive every redelivery and the stream's duplicate window.
		TTL:     30 * 24 * time.Hour,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return Buckets{}, fmt.Errorf("ensure bucket %s: %w", events.BucketWorkflowResults, err)
	}
	cursors, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  topo.Stream(events.BucketSyncCursors),
		History: 5,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return Buckets{}, fmt.Errorf("ensure bucket %s: %w", events.BucketSyncCursors, err)
	}
	return Buckets{WorkflowResults: results, SyncCursors: cursors}, nil
}

// Setup ensures streams and buckets in one call.
func Setup(ctx context.Context, js jetstream.JetStream, topo events.Topology) (Buckets, error) {
	if err := EnsureStreams(ctx, js, topo); err != nil {
		return Buckets{}, err
	}
	return EnsureBuckets(ctx, js, topo)
}
