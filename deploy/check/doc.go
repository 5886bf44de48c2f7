// Package check validates Calldex's deployment artifacts offline: the
// Dockerfile's build (static binaries that serve the demo), the
// docker-compose.yml topology run locally, the Helm chart rendered with
// Helm's SDK, and the Grafana dashboard and Prometheus alert rules against
// the metrics Calldex exports. It holds only tests.
package check
