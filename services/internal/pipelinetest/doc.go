// Package pipelinetest runs the contact path of a sql source from end to
// end as Calldex runs it, every process built by the composition root
// (app.Build): a projector process writing the Redis index that lookups
// read, and sync processes (replicas) whose sql connector is built from the
// tenant's options and publishes to CONTACTS. The end-to-end tests and
// services/bench/sqlsync use it on real databases, NATS and Redis.
package pipelinetest
