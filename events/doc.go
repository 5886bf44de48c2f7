// Package events defines what travels on JetStream: the envelope every
// event shares, the typed payloads, the subjects and the stream and bucket
// definitions. It is pure data: no I/O, no dependency on a NATS client, so
// every module (and any tool written in another language) can agree on it.
package events
