// Package natsx sets up what Calldex needs from NATS: an embedded JetStream
// server for the no-install default, and the streams and KV buckets named in
// package events.
package natsx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
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
	if cfg.Port > 0 {
		// The server reports a port it cannot bind only to its log; ask
		// first, so that a port in use is named as such at once.
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %s: %w", addr, listenError(err))
		}
		_ = ln.Close()
	}
	fatal := make(chan string, 1)
	srv.SetLoggerV2(fatalLogger(fatal), false, false, false)
	srv.Start()
	deadline := time.Now().Add(10 * time.Second)
	for !srv.ReadyForConnections(50 * time.Millisecond) {
		select {
		case msg := <-fatal:
			srv.Shutdown()
			return nil, fmt.Errorf("embedded nats: %s", msg)
		default:
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			return nil, errors.New("embedded nats: not ready after 10s")
		}
	}
	return srv, nil
}

// ErrAddressInUse is returned, wrapped, when the embedded server's port is
// taken by another process.
var ErrAddressInUse = errors.New("address in use")

func listenError(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w (another process listens there): %w", ErrAddressInUse, err)
	}
	return err
}

// fatalLogger keeps the embedded server quiet but for its fatal errors,
// which it hands over (a failed listen is one).
type fatalLogger chan<- string

func (l fatalLogger) Fatalf(format string, v ...any) {
	select {
	case l <- fmt.Sprintf(format, v...):
	default:
	}
}
func (fatalLogger) Noticef(string, ...any) {}
func (fatalLogger) Warnf(string, ...any)   {}
func (fatalLogger) Errorf(string, ...any)  {}
func (fatalLogger) Debugf(string, ...any)  {}
func (fatalLogger) Tracef(string, ...any)  {}

// EnsureStreams creates or updates every stream of the topology: an
// existing stream takes the topology's retention (MaxAge) and replicas.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, topo events.Topology) error {
	for _, s := range topo.Streams() {
		cfg := jetstream.StreamConfig{
			Name:              s.Name,
			Subjects:          s.Subjects,
			Storage:           jetstream.FileStorage,
			MaxMsgsPerSubject: s.MaxMsgsPerSubject,
			MaxAge:            s.MaxAge,
			// Duplicate window for Nats-Msg-Id: a workflow request re-sent
			// within it is recognised at the stream, before any worker.
			Duplicates: 10 * time.Minute,
			Replicas:   topo.StorageReplicas(),
		}
		if s.MaxMsgsPerSubject == 0 {
			cfg.MaxMsgsPerSubject = -1
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s with %d replicas: %w%s", s.Name, cfg.Replicas, err, replicasHint(err))
		}
	}
	return nil
}

// Buckets are the KV buckets Calldex keeps state in.
type Buckets struct {
	WorkflowResults jetstream.KeyValue
	SyncCursors     jetstream.KeyValue
}

// EnsureBucket creates or updates one KV bucket of the topology: cfg.Bucket
// is the unprefixed name; storage is the file store, replicas as the
// topology says.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, topo events.Topology, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	name := cfg.Bucket
	cfg.Bucket = topo.Stream(name)
	cfg.Storage = jetstream.FileStorage
	cfg.Replicas = topo.StorageReplicas()
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s with %d replicas: %w%s", name, cfg.Replicas, err, replicasHint(err))
	}
	return kv, nil
}

// EnsureBuckets creates or opens the KV buckets of the topology.
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, topo events.Topology) (Buckets, error) {
	results, err := EnsureBucket(ctx, js, topo, jetstream.KeyValueConfig{
		Bucket:  events.BucketWorkflowResults,
		History: 1,
		// Results outlive every redelivery and the stream's duplicate
		// window (the configuration checks it).
		TTL: topo.Retention.ResultsMaxAge(),
	})
	if err != nil {
		return Buckets{}, err
	}
	cursors, err := EnsureBucket(ctx, js, topo, jetstream.KeyValueConfig{Bucket: events.BucketSyncCursors, History: 5})
	if err != nil {
		return Buckets{}, err
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

// replicasHint tells an operator what to do when the replica count does not
// fit the NATS deployment: a single server refuses more than one replica.
func replicasHint(err error) string {
	if strings.Contains(err.Error(), "replicas > 1 not supported") {
		return " (this NATS is not a JetStream cluster: set CALLDEX_STREAM_REPLICAS=1, or point NATS_URL at a cluster)"
	}
	if strings.Contains(err.Error(), "insufficient resources") {
		return " (the cluster has fewer JetStream servers than CALLDEX_STREAM_REPLICAS)"
	}
	return ""
}
