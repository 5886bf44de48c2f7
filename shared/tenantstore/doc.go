// Package tenantstore keeps tenant definitions in a replicated NATS KV
// bucket (tenants, one key per tenant id, the tenant's YAML as value) and
// applies every change to a tenant.Registry within a second, on every
// replica, without a restart.
//
// What the bucket holds:
//   - credentials as hashes only (tenant.HashCredential): Put hashes plain
//     tokens, resolving ${VAR} references first, so the bucket never holds
//     a token Calldex only verifies;
//   - CRM secrets as references, ${VAR} or ${file:/run/secrets/x}, which
//     each replica resolves from its own environment when it applies the
//     tenant (tenant.ResolveSecrets). Put refuses a literal value for an
//     option that names a secret (SecretOption).
//
// The YAML file and the bucket: on start, Import writes the file's tenants
// that the bucket does not have, and never overwrites one it has. From
// then on the bucket is the source of truth: a tenant changed in the file
// reaches the bucket through `calldexctl tenants apply -f file.yaml`
// (GitOps), never by restarting a replica; a tenant deleted from the
// bucket stays deleted even though the file still lists it.
package tenantstore
